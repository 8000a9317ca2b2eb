/**
 * The board install: @edge-dmp/core + runtime + device packed from this checkout and installed
 * alone into an empty folder (what `edge-dmp deploy` ships). No tfjs package may come along, and
 * the compiled board CLI classifies, runs a source, inspects and verifies a signed bundle there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateKeyPair, writeBundle } from '../converter/bundle.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';
import { build, duBytes, installInto, installedEnv, pack } from './helpers/packages.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-install-'));
const board = join(dir, 'board');
const bundle = join(dir, 'colour.edmp');
const red = join(dir, 'red.png');
let pub = '';
test.after(() => rmSync(dir, { recursive: true, force: true }));

function boardCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(board, 'node_modules', '.bin', 'edge-dmp');
  return new Promise((resolve) => {
    execFile(bin, args, { cwd: board, env: installedEnv(), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test.before(async () => {
  build();
  const tarballs = pack(['core', 'runtime', 'device'], join(dir, 'packs'));
  installInto(board, tarballs);
  const keys = await generateKeyPair(join(dir, 'keys'));
  pub = keys.publicKeyPath;
  await writeBundle(
    bundle,
    {
      tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
      labels: COLOUR_LABELS,
      model: { name: 'tiny-colour', version: '1.2.0', variant: 'test', architecture: 'mean-fc' },
      preprocess: defaultPreprocess([16, 16], 3),
      quantization: 'fp32',
    },
    { signKey: keys.privateKeyPath },
  );
  await sharp({ create: { width: 24, height: 24, channels: 3, background: '#e02020' } })
    .png()
    .toFile(red);
});

test('the device packages install alone: no tfjs package, the wasm carried, size printed', () => {
  const nm = join(board, 'node_modules');
  assert.ok(existsSync(join(nm, '@edge-dmp', 'device', 'dist', 'index.js')), 'compiled device package');
  assert.deepEqual(readdirSync(join(nm, '@edge-dmp')).sort(), ['core', 'device', 'runtime']);
  assert.equal(existsSync(join(nm, '@tensorflow')), false, 'no @tensorflow/* in a board install');
  assert.ok(existsSync(join(nm, '@edge-dmp', 'runtime', 'wasm', 'tflite_web_api_cc_simd.wasm')));
  for (const absent of ['aedes', 'tsx', 'typescript', 'eslint'])
    assert.equal(existsSync(join(nm, absent)), false, absent);
  const mb = duBytes(nm) / 1e6;
  console.log(`board install: ${mb.toFixed(1)} MB in node_modules`);
  assert.ok(mb > 5, `${mb} MB is too small to hold the runtime`);
});

test('the compiled board CLI classifies with a signed bundle', async () => {
  const r = await boardCli(['classify', '--bundle', bundle, '--pubkey', pub, red, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n')[0]);
  assert.equal(out.label, 'red');
  assert.ok(out.score > 0.9);
});

test('the compiled board CLI runs a testsrc: source', async () => {
  const r = await boardCli([
    ...['run', '--bundle', bundle, '--pubkey', pub, '--source', 'testsrc:'],
    ...['--width', '32', '--height', '32', '--max-frames', '3', '--json'],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const results = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((o) => 'label' in o);
  assert.equal(results.length, 3);
  assert.ok(results.every((o) => COLOUR_LABELS.includes(o.label)));
});

test('the compiled board CLI inspects and verifies the signed bundle, and refuses another key', async () => {
  const i = await boardCli(['inspect', bundle]);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /tiny-colour/);
  assert.match(i.stdout, /1\.2\.0/);
  const v = await boardCli(['verify', bundle, '--pubkey', pub]);
  assert.equal(v.code, 0, v.stderr + v.stdout);
  const other = await generateKeyPair(join(dir, 'other'));
  const bad = await boardCli(['verify', bundle, '--pubkey', other.publicKeyPath]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /key/i);
});

test('the board CLI has only the device commands', async () => {
  const r = await boardCli(['train', '--help']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "train"/);
});
