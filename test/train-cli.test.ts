import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeQuadrantTask } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-traincli-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const bin = join(import.meta.dirname, '..', 'bin', 'edge-dmp.js');
const data = join(tmp, 'quad');
writeQuadrantTask(data, 128, 64);
const tiny = [
  '--model',
  'efficientnet-b0',
  '--variant',
  'dmp',
  '--width-mult',
  '0.25',
  '--depth-mult',
  '0.25',
];

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

test('edge-dmp train (non-TTY: plain lines, backend printed) then edge-dmp eval on the run', () => {
  const out = join(tmp, 'run');
  const r = cli(
    'train',
    ...tiny,
    '--data',
    `idx:${data}`,
    '--epochs',
    '2',
    '--batch-size',
    '16',
    '--max-steps',
    '5',
    '--seed',
    '3',
    '--out',
    out,
    '--json',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^backend: (wasm|cpu|tensorflow)/m);
  assert.match(r.stderr, /^epoch 1\/1 step 5\/5 loss [\d.]+ acc [\d.]+% lr [\d.e+-]+ [\d.]+ img\/s ETA /m);
  assert.doesNotMatch(r.stderr, /\r/);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.steps, 5);
  assert.equal(summary.val.count, 64);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).maxSteps, 5);

  const e = cli('eval', '--run', out, '--data', `idx:${data}`, '--json');
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stderr, /^backend: /m);
  const ev = JSON.parse(e.stdout);
  // one epoch: best/ is the final model the summary evaluated
  assert.equal(ev.top1, summary.val.top1);
  assert.deepEqual(ev.confusion, summary.val.confusion);
  assert.equal(ev.perClass[0].class, 'top-left');

  const h = cli('eval', '--run', out, '--model', 'last');
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /top-1 [\d.]+%\s+top-5 100\.00%/);
  assert.match(h.stdout, /bottom-right/);
});

test('bad flags exit 2 naming the flag', () => {
  const e1 = cli('train', '--data', `idx:${data}`, '--epochs', '0', '--out', join(tmp, 'x1'));
  assert.equal(e1.status, 2);
  assert.match(e1.stderr, /ConfigError \[E_CONFIG\] --epochs: expected an integer >= 1, got 0/);
  const e2 = cli('train', '--data', 'bogus:/x', '--out', join(tmp, 'x2'));
  assert.equal(e2.status, 2);
  assert.match(e2.stderr, /--data: expected <format>:<dir>/);
  const e6 = cli('train', '--data', `idx:${data}`, '--variant', 'dmpx', '--out', join(tmp, 'x6'));
  assert.equal(e6.status, 2);
  assert.match(e6.stderr, /--variant: expected one of baseline, maxpool, duplicate, dmp, got "dmpx"/);
  const e3 = cli('train', '--data', `idx:${data}`);
  assert.match(e3.stderr, /--out/);
  const e4 = cli('eval', '--run', join(tmp, 'missing'));
  assert.equal(e4.status, 2);
  assert.match(e4.stderr, /--run: expected a run directory with preprocess.json/);
  const e5 = cli('train', '--data', `cifar10:${join(tmp, 'nocifar')}`, '--out', join(tmp, 'x5'));
  assert.equal(e5.status, 2);
  assert.match(e5.stderr, /DataError \[E_DATA\] .*data_batch_1\.bin: cannot read/);
});

test('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
  const out = join(tmp, 'int');
  const child = spawn(
    process.execPath,
    [bin, 'train', ...tiny, '--data', `idx:${data}`, '--epochs', '3', '--batch-size', '16', '--out', out],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  let sent = false;
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!sent && /epoch 1\/3 step [1-9]/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('exit', (c) => resolve(c));
  });
  assert.equal(code, 130, err);
  assert.match(
    err,
    /interrupted: checkpoint saved (at epoch \d step \d+|after epoch \d); continue with --resume/,
  );
  const state = JSON.parse(readFileSync(join(out, 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(state.done, false);
  assert.ok(state.globalStep >= 1 && state.globalStep < 24, JSON.stringify(state));
  assert.ok(!existsSync(join(out, 'summary.json')));

  const r = cli('train', '--resume', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resuming at epoch \d step \d+/);
  assert.ok(state.step > 0, 'interrupted mid-epoch');
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.steps, 24);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3);
});
