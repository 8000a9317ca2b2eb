/** `edge-dmp classify` and `edge-dmp run` through `node bin/edge-dmp.js`, with real models and sources. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateKeyPair, writeBundle } from '../converter/bundle.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, GRAY_LABELS, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// Bundles here are signed (signatures are required by default); trust state lives in the temp dir.
const env = { ...process.env, EDGE_DMP_HOME: join(dir, 'home') };
let keys: { privateKeyPath: string; publicKeyPath: string };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = args.includes('--bundle') ? [...args, '--pubkey', keys.publicKeyPath] : args;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/edge-dmp.js', ...all],
      { timeout: 60_000, env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const lines = (s: string) =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

const bundle = join(dir, 'colour.edmp');
const red = join(dir, 'red.jpg');
const blue = join(dir, 'blue.png');
const dark = join(dir, 'dark.png');
const broken = join(dir, 'broken.jpg');
const grayModel = join(dir, 'gray.tflite');
const labels = join(dir, 'labels.txt');

test.before(async () => {
  keys = await generateKeyPair(join(dir, 'keys'));
  await writeBundle(
    bundle,
    {
      tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version: '0.3.0', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([16, 16], 3),
      quantization: 'fp32',
    },
    { signKey: keys.privateKeyPath },
  );
  const solid = (c: string) => sharp({ create: { width: 40, height: 30, channels: 3, background: c } });
  await solid('#e02020').jpeg().toFile(red);
  await solid('#2020e0').png().toFile(blue);
  await solid('#202020').png().toFile(dark);
  writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]));
  writeFileSync(grayModel, tinyModel({ kind: 'gray', size: [28, 28] }));
  writeFileSync(labels, GRAY_LABELS.join('\n') + '\n');
});

test('classify --bundle <image>... --json: one JSON line per image', async () => {
  const r = await cli(['classify', '--bundle', bundle, red, blue, '--json', '--top-k', '2']);
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.deepEqual(
    out.map((o) => [o.file, o.label, o.topK.length]),
    [
      [red, 'red', 2],
      [blue, 'blue', 2],
    ],
  );
  assert.deepEqual(Object.keys(out[0]), ['file', 'label', 'score', 'topK']);
  assert.ok(out[0].score > 0.99 && out[0].score === out[0].topK[0].score);
});

test('classify BYO: --model --labels --input-size --channels --scale; a bad image gets an error line and exit 1', async () => {
  const r = await cli([
    ...[
      'classify',
      '--model',
      grayModel,
      '--labels',
      labels,
      '--input-size',
      '28x28',
      '--channels',
      '1',
      '--scale',
      '1/255',
    ],
    ...[dark, broken, '--json'],
  ]);
  assert.equal(r.code, 1);
  const [ok, bad] = lines(r.stdout);
  assert.equal(ok.label, 'dark');
  assert.equal(bad.file, broken);
  assert.equal(bad.error.code, 'E_FRAME_TRUNCATED');
  // Plain output names label and score.
  const plain = await cli(['classify', '--model', grayModel, '--labels', labels, dark]);
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, /dark\.png: dark 0\.99\d/);
});

test('classify: bad flags are ConfigErrors naming the flag (exit 2)', async () => {
  const noLabels = await cli(['classify', '--model', grayModel, dark]);
  assert.equal(noLabels.code, 2);
  assert.match(noLabels.stderr, /--labels/);
  const badSize = await cli([
    'classify',
    '--model',
    grayModel,
    '--labels',
    labels,
    '--input-size',
    '28 by 28',
    dark,
  ]);
  assert.equal(badSize.code, 2);
  assert.match(badSize.stderr, /--input-size: expected <W>x<H>/);
  const wrongSize = await cli([
    'classify',
    '--model',
    grayModel,
    '--labels',
    labels,
    '--input-size',
    '32x32',
    dark,
  ]);
  assert.equal(wrongSize.code, 2);
  assert.match(wrongSize.stderr, /\[1,28,28\]/);
});

test('run --bundle --source testsrc: --fps --max-frames --json prints result lines; file:// replays every image', async () => {
  const r = await cli([
    'run',
    '--bundle',
    bundle,
    '--source',
    'testsrc:',
    '--width',
    '64',
    '--height',
    '48',
    '--fps',
    '10',
    '--max-frames',
    '4',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out.length, 4);
  for (const o of out) {
    assert.equal(o.ok, true);
    assert.ok(COLOUR_LABELS.includes(o.label));
    assert.equal(o.model.name, 'tiny-colour');
    assert.equal(o.model.version, '0.3.0');
  }
  assert.ok(out[3].frameId > out[0].frameId);
  assert.match(r.stderr, /4 classified/);

  const imgs = join(dir, 'replay');
  mkdirSync(imgs);
  for (const [i, f] of [red, blue, broken, red].entries())
    writeFileSync(
      join(imgs, `${i}.jpg`),
      await sharp(f)
        .toBuffer()
        .catch(() => Buffer.from('xx')),
    );
  const rep = await cli(['run', '--bundle', bundle, '--source', `file://${imgs}`, '--json']);
  assert.equal(rep.code, 0, rep.stderr);
  assert.deepEqual(
    lines(rep.stdout).map((o) => (o.ok ? o.label : o.code)),
    ['red', 'blue', 'E_FRAME_FORMAT', 'red'],
  );
  assert.match(rep.stderr, /4 frames, 3 classified, 0 dropped, 1 errors/);
});

test('run --bundle checks the golden samples first: a mismatch refuses to start, --skip-golden overrides', async () => {
  const redPixels = { data: Buffer.alloc(16 * 16 * 3), width: 16, height: 16, channels: 3 as const };
  for (let i = 0; i < 16 * 16; i++) redPixels.data[i * 3] = 230;
  const make = async (path: string, label: string) =>
    writeBundle(
      path,
      {
        tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
        labels: COLOUR_LABELS,
        model: { name: 'golden', version: '1', variant: 'test', architecture: 'mean-fc' },
        preprocess: defaultPreprocess([16, 16], 3),
        quantization: 'fp32',
        golden: [{ pixels: redPixels, label }],
      },
      { signKey: keys.privateKeyPath },
    );
  const good = join(dir, 'golden-good.edmp');
  const bad = join(dir, 'golden-bad.edmp');
  await make(good, 'red');
  await make(bad, 'blue'); // what a wrong label order would look like
  const args = ['--source', 'testsrc:', '--width', '32', '--height', '32', '--max-frames', '2', '--json'];
  const ok = await cli(['run', '--bundle', good, ...args]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /golden self-check 1\/1 passed/);
  assert.equal(lines(ok.stdout).length, 2);
  const refused = await cli(['run', '--bundle', bad, ...args]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /E_BUNDLE_GOLDEN/);
  assert.equal(refused.stdout, '');
  const forced = await cli(['run', '--bundle', bad, '--skip-golden', ...args]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(lines(forced.stdout).length, 2);
});

test('run: unknown source scheme and missing source are ConfigErrors', async () => {
  const r = await cli(['run', '--bundle', bundle, '--source', 'webcam:0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--source: expected a URI with scheme v4l2:/);
  const none = await cli(['run', '--bundle', bundle]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--source/);
});
