import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, type EpochMetrics, type TrainConfig } from '../sdk/train/index.js';
import { loadModel } from '../sdk/models/io.js';
import { ConfigError } from '../core/errors.js';
import { writeQuadrantTask } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-resume-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const data = join(tmp, 'quad');
writeQuadrantTask(data, 96, 32);
// Augmentation, dropout and stochastic depth on: resume must reproduce every random draw too.
const cfg: Partial<TrainConfig> & { data: string } = {
  data: `idx:${data}`,
  model: 'efficientnet-b0',
  variant: 'dmp',
  widthMult: 0.25,
  depthMult: 0.25,
  dropout: 0.2,
  dropConnect: 0.2,
  augment: 'crop-flip',
  epochs: 3,
  batchSize: 16,
  weightDecay: 1e-4,
  labelSmoothing: 0.1,
  warmupEpochs: 0.5,
  seed: 7,
};

async function weights(dir: string): Promise<Float32Array[]> {
  const m = await loadModel(dir);
  const out = await Promise.all(m.weights.map(async (w) => (await w.read().data()) as Float32Array));
  m.dispose();
  return out;
}

const metrics = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochMetrics)
    .map((m) => [m.epoch, m.step, m.loss, m.top1, m.valLoss, m.valTop1, m.lr]);

test('a run interrupted mid-epoch and at an epoch end, then resumed, equals an uninterrupted run', async () => {
  const a = join(tmp, 'a');
  const ra = await train(cfg, { out: a });
  assert.equal(ra.state.globalStep, 18);

  const b = join(tmp, 'b');
  // Abort after global step 4 (mid epoch 1), as Ctrl-C does.
  const stopAt = (n: number) => {
    const ac = new AbortController();
    return {
      signal: ac.signal,
      onProgress: (e: { type: string; globalStep?: number }) => {
        if (e.type === 'step' && e.globalStep === n) ac.abort();
      },
    };
  };
  const r1 = await train(cfg, { out: b, ...stopAt(4) });
  assert.equal(r1.interrupted, true);
  assert.deepEqual([r1.state.epoch, r1.state.step, r1.state.globalStep], [0, 4, 4]);
  assert.equal(r1.summary, undefined);
  const saved = JSON.parse(readFileSync(join(b, 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(saved.globalStep, 4);
  // Abort on the last step of epoch 2: the epoch is finished (eval, checkpoint) before stopping.
  const r2 = await train({ data: 'ignored' }, { out: b, resume: true, ...stopAt(12) });
  assert.equal(r2.interrupted, true);
  assert.deepEqual([r2.state.epoch, r2.state.step, r2.state.globalStep], [2, 0, 12]);
  const r3 = await train({ data: 'ignored' }, { out: b, resume: true });
  assert.equal(r3.interrupted, false);
  assert.equal(r3.state.globalStep, 18);

  assert.deepEqual(metrics(b), metrics(a));
  for (const dir of ['last', 'best']) {
    const wa = await weights(join(a, dir));
    const wb = await weights(join(b, dir));
    assert.equal(wa.length, wb.length);
    let maxDiff = 0;
    for (let i = 0; i < wa.length; i++)
      for (let j = 0; j < wa[i].length; j++) maxDiff = Math.max(maxDiff, Math.abs(wa[i][j] - wb[i][j]));
    assert.equal(maxDiff, 0, `${dir}: max weight difference ${maxDiff}`);
  }
  assert.deepEqual(r3.summary!.val.confusion, ra.summary!.val.confusion);
  assert.equal(r3.summary!.val.top1, ra.summary!.val.top1);
  // resuming a finished run does no more steps
  const r4 = await train({ data: 'ignored' }, { out: b, resume: true });
  assert.equal(r4.state.globalStep, 18);
});

test('--resume without a run directory is a ConfigError', async () => {
  await assert.rejects(
    train({ data: 'x' }, { out: join(tmp, 'nothing'), resume: true }),
    (e: unknown) => e instanceof ConfigError && e.field === '--resume',
  );
});
