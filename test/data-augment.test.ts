import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rng,
  arrayDataset,
  augmentRegion,
  channelStats,
  epochOrder,
  parseDataSpec,
  sampleInto,
  stepsPerEpoch,
  trainBatches,
  type RawImage,
} from '../sdk/data/index.js';
import { ConfigError } from '../core/errors.js';
import { defaultPreprocess } from '../core/preprocess.js';

const img4: RawImage = {
  data: Uint8Array.from({ length: 16 }, (_, i) => i * 10),
  height: 4,
  width: 4,
  channels: 1,
};
const full = { x: 0, y: 0, w: 4, h: 4, flip: false, outside: 'clamp' as const };

test('sampler: identity copy, flip, zero padding, channel conversion, normalisation', () => {
  const spec = { ...defaultPreprocess([4, 4], 1), scale: 1 };
  const out = new Float32Array(16);
  sampleInto(img4, full, spec, out, 0);
  assert.deepEqual(Array.from(out), Array.from(img4.data));
  sampleInto(img4, { ...full, flip: true }, spec, out, 0);
  assert.deepEqual(Array.from(out.subarray(0, 4)), [30, 20, 10, 0]);
  sampleInto(img4, { ...full, x: 1, y: -1, outside: 'zero' }, spec, out, 0);
  assert.deepEqual(Array.from(out.subarray(0, 8)), [0, 0, 0, 0, 10, 20, 30, 0]);
  const rgb = { ...defaultPreprocess([4, 4], 3), scale: 1, mean: [0, 5, 10], std: [1, 2, 5] };
  const o3 = new Float32Array(48);
  sampleInto(img4, full, rgb, o3, 0);
  assert.deepEqual(Array.from(o3.subarray(15, 18)), [50, 22.5, 8]);
  const col: RawImage = { data: Uint8Array.from([100, 200, 50]), height: 1, width: 1, channels: 3 };
  const g = new Float32Array(4);
  sampleInto(
    col,
    { x: 0, y: 0, w: 1, h: 1, flip: false, outside: 'clamp' },
    { ...defaultPreprocess([2, 2], 1), scale: 1 },
    g,
    0,
  );
  assert.ok(Math.abs(g[0] - (0.299 * 100 + 0.587 * 200 + 0.114 * 50)) < 1e-4);
  // upsampling 4 -> 8 keeps the mean of a linear ramp
  const up = new Float32Array(64);
  sampleInto(img4, full, { ...defaultPreprocess([8, 8], 1), scale: 1 }, up, 0);
  assert.equal(up[0], 0);
  assert.equal(up[63], 150);
});

test('augment policies are deterministic per seed and stay in bounds', () => {
  const big: RawImage = { data: new Uint8Array(32 * 32 * 3), height: 32, width: 32, channels: 3 };
  const a = Array.from({ length: 50 }, (_, i) => augmentRegion('crop-flip', big, new Rng(i)));
  const b = Array.from({ length: 50 }, (_, i) => augmentRegion('crop-flip', big, new Rng(i)));
  assert.deepEqual(a, b);
  for (const r of a) {
    assert.ok(r.x >= -4 && r.x <= 4 && r.y >= -4 && r.y <= 4);
    assert.equal(r.w, 32);
    assert.equal(r.outside, 'zero');
  }
  assert.ok(a.some((r) => r.flip) && a.some((r) => !r.flip));
  for (let i = 0; i < 50; i++) {
    const r = augmentRegion('rrc-flip', big, new Rng(i));
    assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= 32 && r.y + r.h <= 32 && r.w * r.h >= 0.05 * 1024);
  }
  assert.throws(() => augmentRegion('bogus' as never, big, new Rng(1)), ConfigError);
});

test('epoch order is a seeded permutation; batches are reproducible', async () => {
  const o = epochOrder(100, 7, 3);
  assert.deepEqual(
    Array.from(o).sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.deepEqual(o, epochOrder(100, 7, 3));
  assert.notDeepEqual(o, epochOrder(100, 7, 4));
  assert.equal(stepsPerEpoch(100, 32), 3);
  assert.equal(stepsPerEpoch(10, 32), 1);
  const n = 40;
  const px = Uint8Array.from({ length: n * 64 }, (_, i) => (i * 37) & 255);
  const ds = arrayDataset(
    't',
    px,
    Int32Array.from({ length: n }, (_, i) => i % 4),
    [8, 8],
    1,
    ['a', 'b', 'c', 'd'],
  );
  const opts = {
    preprocess: defaultPreprocess([8, 8], 3),
    augment: 'crop-flip' as const,
    batchSize: 16,
    seed: 5,
  };
  const run = async (from: number) => {
    const out: Float32Array[] = [];
    for await (const b of trainBatches(ds, opts, 1, from)) out.push(b.x);
    return out;
  };
  const all = await run(0);
  assert.equal(all.length, 2);
  assert.equal(all[0].length, 16 * 8 * 8 * 3);
  assert.deepEqual((await run(1))[0], all[1]);
  const stats = await channelStats(ds, 1, 1000, 0);
  const mean = Array.from(px).reduce((s, v) => s + v / 255, 0) / px.length;
  assert.ok(Math.abs(stats.mean[0] - mean) < 1e-5);
});

test('data specs: formats, default Fashion-MNIST dir, errors name --data', () => {
  assert.deepEqual(parseDataSpec('cifar10:/d/c'), { format: 'cifar10', dir: '/d/c' });
  assert.deepEqual(parseDataSpec('folder:/x:y'), { format: 'folder', dir: '/x:y' });
  assert.deepEqual(parseDataSpec('fashion-mnist'), {
    format: 'fashion-mnist',
    dir: '/usr/share/datasets/fashion-mnist',
  });
  assert.throws(
    () => parseDataSpec('imagenet:/x'),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.field === '--data' &&
      /cifar10, cifar100, idx, fashion-mnist, folder/.test(e.expected),
  );
  assert.throws(
    () => parseDataSpec('cifar10', '--val-data'),
    (e: unknown) => e instanceof ConfigError && e.field === '--val-data',
  );
});
