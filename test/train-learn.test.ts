import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  consoleProgress,
  learningRate,
  resolveTrainConfig,
  train,
  type EpochMetrics,
  type ProgressEvent,
} from '../sdk/train/index.js';
import { loadModel } from '../sdk/models/io.js';
import { ConfigError } from '../core/errors.js';
import { writeCifar10, writeCifar100, writeImage, writeQuadrantTask } from './helpers/data-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'edmp-learn-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('cosine schedule per step: lr 0.01 -> 0, warmup ramps linearly', () => {
  assert.equal(learningRate(0, 100, 0.01, 0), 0.01);
  assert.ok(Math.abs(learningRate(50, 100, 0.01, 0) - 0.005) < 1e-12);
  assert.ok(learningRate(99, 100, 0.01, 0) < 1e-5);
  assert.ok(Math.abs(learningRate(0, 100, 0.01, 10) - 0.001) < 1e-12);
  assert.ok(Math.abs(learningRate(9, 100, 0.01, 10) - 0.01) < 1e-12);
  assert.equal(learningRate(10, 100, 0.01, 10), 0.01);
  // a 1-epoch run still anneals (per-step, not per-epoch)
  assert.ok(learningRate(7, 8, 0.01, 0) < 0.0005);
});

test('config defaults are the paper recipe; bad fields are ConfigErrors naming them', () => {
  const c = resolveTrainConfig({ data: 'fashion-mnist' });
  assert.equal(c.lr, 0.01);
  assert.equal(c.epochs, 30);
  assert.equal(c.batchSize, 64);
  assert.equal(c.weightDecay, 0);
  for (const [field, v] of [
    ['epochs', 0],
    ['batchSize', 2.5],
    ['lr', -1],
    ['labelSmoothing', 1],
    ['augment', 'mixup'],
    ['inputChannels', 2],
  ] as const) {
    assert.throws(
      () => resolveTrainConfig({ data: 'x', [field]: v }),
      (e: unknown) => e instanceof ConfigError && e.field === field && e.received === v,
    );
  }
});

test('a tiny EfficientNet-DMP learns a generated 4-class task far above chance, and the run dir is complete', async () => {
  const data = join(tmp, 'quad');
  writeQuadrantTask(data, 256, 128);
  const out = join(tmp, 'run');
  const events: ProgressEvent[] = [];
  const r = await train(
    {
      data: `idx:${data}`,
      model: 'efficientnet-b0',
      variant: 'dmp',
      widthMult: 0.25,
      depthMult: 0.25,
      dropout: 0,
      dropConnect: 0,
      augment: 'none',
      epochs: 10,
      batchSize: 32,
      seed: 1,
    },
    { out, onProgress: (e) => events.push(e) },
  );
  assert.equal(r.interrupted, false);
  const s = r.summary!;
  assert.ok(s.val.top1 >= 0.9, `val top1 ${s.val.top1}`);
  assert.equal(s.val.count, 128);
  assert.equal(s.steps, 80);
  assert.equal(s.val.top5, 1);
  assert.equal(
    s.val.confusion.flat().reduce((a, b) => a + b, 0),
    128,
  );
  assert.deepEqual(
    s.val.perClass.map((p) => [p.class, p.count]),
    [
      ['top-left', 32],
      ['top-right', 32],
      ['bottom-left', 32],
      ['bottom-right', 32],
    ],
  );
  const onDisk = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(Object.keys(onDisk.val).sort(), [
    'confusion',
    'count',
    'loss',
    'perClass',
    'top1',
    'top5',
  ]);
  assert.equal(onDisk.val.top1, s.val.top1);

  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochMetrics);
  assert.equal(metrics.length, 10);
  for (const k of ['loss', 'top1', 'lr', 'imgPerSec', 'valTop1', 'valTop5'])
    assert.equal(typeof metrics[0][k as keyof EpochMetrics], 'number');
  assert.ok(metrics[9].loss < metrics[0].loss, 'training loss falls');
  assert.ok(metrics[0].lr < 0.01 && metrics[9].lr < 1e-4, 'cosine lr decays to ~0');
  assert.equal(metrics.filter((m) => m.best).at(-1)!.valTop1, Math.max(...metrics.map((m) => m.valTop1)));

  assert.deepEqual(readFileSync(join(out, 'labels.txt'), 'utf8').trim().split('\n'), [
    'top-left',
    'top-right',
    'bottom-left',
    'bottom-right',
  ]);
  const pre = JSON.parse(readFileSync(join(out, 'preprocess.json'), 'utf8'));
  assert.deepEqual(pre.inputSize, [16, 16]);
  assert.equal(pre.channels, 1);
  assert.equal(pre.resize, 'stretch');
  assert.ok(pre.mean[0] > 0.1 && pre.mean[0] < 0.5 && pre.std[0] > 0.1, JSON.stringify(pre));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.variant, 'dmp');
  assert.equal(cfg.inputChannels, 1);
  assert.equal(cfg.lr, 0.01);
  const curve = readFileSync(join(out, 'curve.svg'), 'utf8');
  assert.match(curve, /^<svg /);
  assert.equal((curve.match(/<polyline/g) ?? []).length, 3);
  const conf = readFileSync(join(out, 'confusion.svg'), 'utf8');
  assert.equal((conf.match(/<rect x=/g) ?? []).length, 16);
  for (const d of ['best', 'last', 'checkpoint/model']) assert.ok(existsSync(join(out, d, 'model.json')), d);
  const best = await loadModel(join(out, 'best'));
  assert.deepEqual(best.inputs[0].shape, [null, 16, 16, 1]);
  best.dispose();

  assert.match((events[0] as { text: string }).text, /^backend: /);
  const steps = events.filter((e) => e.type === 'step');
  assert.equal(steps.length, 80);
  assert.equal(events.filter((e) => e.type === 'epoch').length, 10);

  // the same --out again is refused
  await assert.rejects(
    train({ data: `idx:${data}` }, { out }),
    (e: unknown) => e instanceof ConfigError && e.field === '--out',
  );
});

test('progress: a redrawn bar on a TTY, plain lines every tenth of an epoch otherwise', () => {
  const step = (n: number) => ({
    type: 'step' as const,
    epoch: 1,
    epochs: 2,
    step: n,
    steps: 20,
    globalStep: n,
    totalSteps: 40,
    loss: 0.5,
    acc: 0.75,
    lr: 0.01,
    imgPerSec: 100,
    etaSec: 65,
  });
  let tty = '';
  const onTty = consoleProgress({ isTTY: true, columns: 200, write: (s: string) => (tty += s) });
  onTty(step(10));
  assert.equal(
    tty,
    '\r\x1b[K[############............] epoch 1/2 step 10/20 loss 0.5000 acc 75.0% lr 1.00e-2 100.0 img/s ETA 01:05',
  );
  onTty({ type: 'message', text: 'hi' });
  assert.ok(tty.endsWith('ETA 01:05\nhi\n'));
  let narrow = '';
  consoleProgress({ isTTY: true, columns: 60, write: (s: string) => (narrow += s) })(step(10));
  assert.equal(narrow, '\r\x1b[Kepoch 1/2 step 10/20 loss 0.5000 acc 75.0% lr 1.00e-2 100.0');
  let plain = '';
  const onPlain = consoleProgress({ isTTY: false, write: (s: string) => (plain += s) });
  for (let i = 1; i <= 20; i++) onPlain(step(i));
  assert.equal(plain.split('\n').filter(Boolean).length, 10);
  assert.ok(!plain.includes('\r'));
});

test('CIFAR-10, CIFAR-100 (coarse) and folder trees train end to end with their preprocessing', async () => {
  const c10 = join(tmp, 'c10');
  writeCifar10(c10, 8, 8);
  const c100 = join(tmp, 'c100');
  writeCifar100(
    c100,
    Array.from({ length: 16 }, (_, i) => [i % 20, i]),
    Array.from({ length: 4 }, (_, i) => [i, i]),
  );
  const folder = join(tmp, 'folder');
  for (const [cls, rgb] of [
    ['cat', [200, 40, 40]],
    ['dog', [40, 40, 200]],
  ] as const) {
    mkdirSync(join(folder, cls), { recursive: true });
    for (let i = 0; i < 6; i++) await writeImage(join(folder, cls, `${i}.jpg`), 30 + i, 20, [...rgb]);
  }
  const tiny = {
    model: 'efficientnet-b0',
    variant: 'dmp',
    widthMult: 0.25,
    depthMult: 0.25,
    batchSize: 4,
    maxSteps: 2,
  };
  const cases = [
    { data: `cifar10:${c10}`, resize: 'stretch', size: 32, channels: 3, classes: 10, augment: 'crop-flip' },
    {
      data: `cifar100:${c100}`,
      cifar100Labels: 'coarse' as const,
      resize: 'stretch',
      size: 32,
      channels: 3,
      classes: 20,
      augment: 'crop-flip',
    },
    {
      data: `folder:${folder}`,
      inputSize: 24,
      resize: 'center-crop',
      size: 24,
      channels: 3,
      classes: 2,
      augment: 'rrc-flip',
    },
    {
      data: `cifar10:${c10}`,
      inputChannels: 1 as const,
      inputSize: 16,
      resize: 'stretch',
      size: 16,
      channels: 1,
      classes: 10,
      augment: 'crop-flip',
    },
  ];
  for (const [i, c] of cases.entries()) {
    const out = join(tmp, `fmt${i}`);
    // augment is left to its per-format default
    const { resize: _r, size: _s, channels: _c, classes: _k, augment: _a, ...cfg } = c;
    const r = await train({ ...tiny, ...cfg }, { out });
    assert.equal(r.summary!.steps, 2, c.data);
    const pre = JSON.parse(readFileSync(join(out, 'preprocess.json'), 'utf8'));
    assert.equal(pre.resize, c.resize, c.data);
    assert.deepEqual(pre.inputSize, [c.size, c.size]);
    assert.equal(pre.channels, c.channels);
    assert.equal(pre.mean.length, c.channels);
    assert.equal(readFileSync(join(out, 'labels.txt'), 'utf8').trim().split('\n').length, c.classes);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).augment, c.augment);
    assert.equal(r.summary!.val.confusion.length, c.classes);
  }
});
