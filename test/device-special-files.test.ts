/**
 * Special files in a `file://` folder (issue 16, finding 3): a FIFO named *.png, a symlink to
 * /dev/zero and a 1.5 GB sparse file are each one error naming the file, read by nobody; the
 * replay goes on, per-frame decode errors name their file, and SIGTERM ends the run.
 * Real FIFO (mkfifo), real /dev/zero symlink, real sparse file, real CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { generateKeyPair, writeBundle } from '../converter/bundle.js';
import { FrameError, readFrameFile } from '../device/frame.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-special-'));
// The CLI keeps trusted keys and the version floor here, not in the real home.
process.env.EDGE_DMP_HOME = join(dir, 'home');
const frames = join(dir, 'frames');
const bundle = join(dir, 'colour.edmp');
let pub: string;
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  mkdirSync(frames);
  const keys = await generateKeyPair(join(dir, 'keys'));
  pub = keys.publicKeyPath;
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
  execFileSync('mkfifo', [join(frames, '0-fifo.png')]);
  symlinkSync('/dev/zero', join(frames, '1-zero.png'));
  writeFileSync(join(frames, '2-sparse.png'), '');
  truncateSync(join(frames, '2-sparse.png'), 1.5 * 2 ** 30);
  writeFileSync(join(frames, '3-broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]));
  const red = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#e02020' } })
    .png()
    .toBuffer();
  for (let i = 0; i < 4; i++) writeFileSync(join(frames, `4-red-${i}.png`), red);
});

const refused = async (name: string, code: string, why: RegExp) => {
  const p = join(frames, name);
  await assert.rejects(readFrameFile(p), (e: unknown) => {
    assert.ok(e instanceof FrameError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.field, p);
    assert.match(e.message, why);
    return true;
  });
};

/** Runs the CLI; resolves with the exit code and output once it exits (or the test times out). */
function run(args: string[], onStderr?: (all: string, kill: () => void) => void) {
  const child = spawn(process.execPath, ['bin/edge-dmp.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killed = false;
  const kill = () => {
    if (!killed) child.kill('SIGTERM');
    killed = true;
  };
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    onStderr?.(stderr, kill);
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('file:// special files', () => {
  it('readFrameFile refuses a FIFO without blocking', () => refused('0-fifo.png', 'E_FRAME_READ', /a FIFO/));
  it('readFrameFile refuses a symlink to /dev/zero as a character device', () =>
    refused('1-zero.png', 'E_FRAME_READ', /a character device/));
  it('readFrameFile refuses a 1.5 GB sparse file from its size, before reading it', async () => {
    const before = process.memoryUsage().rss;
    await refused('2-sparse.png', 'E_FRAME_TOO_LARGE', /1610612736 bytes/);
    assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20, 'no buffer of the file size was made');
  });

  it('run over the folder: one error per special file naming it, decode errors name the file, results go on', async () => {
    const r = await run([
      'run',
      '--bundle',
      bundle,
      '--pubkey',
      pub,
      '--source',
      `file://${frames}`,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /0-fifo\.png.*a FIFO/);
    assert.match(r.stderr, /1-zero\.png.*a character device/);
    assert.match(r.stderr, /2-sparse\.png.*1610612736 bytes/);
    const out = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const failures = out.filter((o) => o.ok === false);
    assert.equal(failures.length, 1);
    assert.match(failures[0].reason, /3-broken\.jpg/);
    assert.deepEqual(
      out.filter((o) => o.ok).map((o) => o.label),
      ['red', 'red', 'red', 'red'],
    );
  });

  it('SIGTERM during a paced replay of the folder ends the run with its summary', async () => {
    const args = ['run', '--bundle', bundle, '--pubkey', pub, '--source', `file://${frames}`, '--fps', '1'];
    const r = await run(args, (all, kill) => {
      if (/1-zero\.png/.test(all)) kill();
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /edge-dmp run: \d+ frames/);
  });

  it('SIGTERM ends the run within seconds even when the capture program cannot be stopped', async () => {
    // A capture program stuck as a hung camera driver leaves it: it ignores SIGTERM, and after
    // its SIGKILL a child of it still holds its stdout, so the source never sees the pipe close.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const pidFile = join(dir, 'stuck.pid');
    writeFileSync(join(bin, 'ffmpeg'), `#!/bin/sh\ntrap '' TERM\nsleep 120 &\necho $! > ${pidFile}\nwait\n`, {
      mode: 0o755,
    });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const child = spawn(
      process.execPath,
      ['bin/edge-dmp.js', 'run', '--bundle', bundle, '--pubkey', pub, '--source', 'testsrc:'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env,
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 3000)); // golden check done, the source started
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
    assert.match(stderr, /still busy 5 s after the signal; exiting/);
    assert.notEqual(code, null, 'exited by itself, not killed by the signal');
  });
});
