/**
 * CLI hardening (issue 16, finding 7), through `node bin/edge-dmp.js`: output-path problems are
 * typed errors naming the flag, bounded runs give up on a source that cannot start (a missing
 * v4l2 device, a refused RTSP URL: real ffmpeg), negative numbers in the space form and
 * nonsensical values are refused naming the flag, and a run directory trained with a relative
 * data path converts from another working directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateKeyPair, writeBundle } from '../converter/bundle.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { writeQuadrantTask } from './helpers/data-fixtures.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';
import { freePort } from './helpers/mqtt-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-clihard-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = resolve('bin/edge-dmp.js');
const env = { ...process.env, EDGE_DMP_HOME: join(dir, 'home') };
const cli = (args: string[], cwd?: string) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, cwd, env });
const model = join(dir, 'tiny.tflite');
const labels = join(dir, 'labels.txt');
writeFileSync(model, tinyModel({ kind: 'colour', size: [16, 16] }));
writeFileSync(labels, COLOUR_LABELS.join('\n') + '\n');
const byo = ['--model', model, '--labels', labels];

/** Exit 2 with a ConfigError naming `flag` and what it expected, and no stack trace. */
function refused(r: ReturnType<typeof cli>, flag: string, expected: RegExp) {
  assert.equal(r.status, 2, `${r.status}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`\\[E_CONFIG\\] ${flag}: expected`));
  assert.match(r.stderr, expected);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('CLI hardening', () => {
  it('unwritable or invalid output paths are typed errors for keygen, train, convert, sign and run --outbox', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const bundle = join(dir, 'b.edmp');
    const keys = await generateKeyPair(join(dir, 'keys'));
    await writeBundle(
      bundle,
      {
        tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
        labels: COLOUR_LABELS,
        model: { name: 'p', variant: 't', architecture: 'a' },
        preprocess: defaultPreprocess([16, 16], 3),
        quantization: 'fp32',
      },
      { signKey: keys.privateKeyPath },
    );
    const bad = join(file, 'sub');
    refused(cli(['keygen', '--out', bad]), '--out', /ENOTDIR|EEXIST/);
    refused(
      cli(['train', '--model', 'efficientnet-b0', '--data', 'fashion-mnist', '--out', bad]),
      '--out',
      /a-file/,
    );
    refused(
      cli(['sign', bundle, '--key', keys.privateKeyPath, '--out', join(bad, 's.edmp')]),
      '--out',
      /a-file/,
    );
    const mqtt = ['--mqtt', 'mqtt://127.0.0.1:1', '--outbox', bad];
    refused(cli(['run', ...byo, '--source', 'testsrc:', '--max-frames', '1', ...mqtt]), '--outbox', /a-file/);
  });

  it('negative numbers in the space form and nonsensical values are refused naming the flag', () => {
    refused(
      cli([
        'train',
        '--model',
        'efficientnet-b0',
        '--data',
        'fashion-mnist',
        '--epochs',
        '-3',
        '--out',
        join(dir, 'r'),
      ]),
      '--epochs',
      /integer >= 1, got -3/,
    );
    refused(cli(['run', ...byo, '--source', 'testsrc:', '--fps', '-2']), '--fps', /a number > 0, got "-2"/);
    refused(
      cli(['run', ...byo, '--source', 'testsrc:', '--stats-interval', '0']),
      '--stats-interval',
      /a number > 0/,
    );
    refused(cli(['classify', ...byo, '--scale=-1', model]), '--scale', /a number > 0, got "-1"/);
    refused(
      cli(['run', ...byo, '--source', 'testsrc:', '--serial', '/dev/ttyS0:notbaud']),
      '--serial',
      /baud an integer/,
    );
    refused(
      cli(['run', ...byo, '--source', 'testsrc:', '--max-frames', '2.5']),
      '--max-frames',
      /an integer >= 1/,
    );
  });

  it('--max-frames runs give up on a missing v4l2 device and a refused RTSP URL with a clear error', async () => {
    const port = await freePort();
    for (const [uri, why] of [
      ['v4l2:///dev/video-edge-dmp-missing', /video-edge-dmp-missing/],
      [`rtsp://127.0.0.1:${port}/cam`, /ffmpeg exited/],
    ] as const) {
      const r = cli(['run', ...byo, '--source', uri, '--max-frames', '2', '--retries', '1']);
      assert.equal(r.status, 1, `${uri}: ${r.stderr}`);
      assert.match(r.stderr, /expected at most 1 restarts without a frame/);
      assert.match(r.stderr, why);
    }
  });

  it('a run trained with a relative data path stores it absolute; convert --run /abs/run works from another cwd', () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    writeQuadrantTask(join(work, 'quad'), 64, 32);
    const args = [
      '--model',
      'efficientnet-b0',
      '--variant',
      'dmp',
      '--width-mult',
      '0.25',
      '--depth-mult',
      '0.25',
    ];
    const t = cli(
      [
        'train',
        ...args,
        '--data',
        'idx:quad',
        '--epochs',
        '1',
        '--batch-size',
        '16',
        '--max-steps',
        '2',
        '--out',
        'run',
      ],
      work,
    );
    assert.equal(t.status, 0, t.stderr);
    const config = JSON.parse(readFileSync(join(work, 'run', 'config.json'), 'utf8'));
    assert.equal(config.data, `idx:${join(work, 'quad')}`);
    const c = cli(
      [
        'convert',
        '--run',
        join(work, 'run'),
        '--quantize',
        'fp32',
        '--eval-samples',
        '16',
        '--out',
        join(dir, 'm.tflite'),
      ],
      tmpdir(),
    );
    assert.equal(c.status, 0, c.stderr);
  });
});
