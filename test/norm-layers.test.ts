/**
 * edge-dmp's own BatchNorm and Swish layers (sdk/norm-layers.ts) against tfjs's stock
 * BatchNormalization and `swish` activation: outputs, moving statistics and gradients, on cpu
 * (plain tf ops) and on wasm with the fused kernels; saved and loaded like any layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchNorm,
  Swish,
  isBatchNorm,
  loadModel,
  registerFastKernels,
  saveModel,
  selectBackend,
} from '../sdk/index.js';
import { fastKernel } from '../sdk/kernels/available.js';
import { BN_TRAIN } from '../sdk/kernels/batchnorm.js';

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};
const data = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + seed) * 2 + 0.3);

/** One training step through a layer: output, d(sum(y*w))/dx, d/dgamma..., and its weights after. */
function step(layer: tf.layers.Layer, x: tf.Tensor4D, w: tf.Tensor) {
  const input = tf.input({ shape: x.shape.slice(1) as number[] });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  const y = model.apply(x, { training: true }) as tf.Tensor;
  const grads = tf.grads((a: tf.Tensor) =>
    tf.sum(tf.mul(model.apply(a, { training: true }) as tf.Tensor, w)),
  )([x]);
  const out = [y, ...grads, ...layer.getWeights()].map((t) => Float32Array.from(t.dataSync()));
  const infer = Float32Array.from((model.apply(x, { training: false }) as tf.Tensor).dataSync());
  return { out, infer };
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`BatchNorm equals tf.layers.batchNormalization on ${backend}: training output, input gradient, moving stats, inference`, async () => {
    await selectBackend(backend);
    if (backend === 'wasm') registerFastKernels();
    assert.equal(fastKernel(BN_TRAIN), backend === 'wasm', 'fast path only where registered');
    const x = tf.tensor4d(data(2 * 3 * 3 * 5, 1), [2, 3, 3, 5]);
    const w = tf.tensor4d(data(2 * 3 * 3 * 5, 2), [2, 3, 3, 5]);
    const stock = step(tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 }), x, w);
    const ours = step(new BatchNorm({ momentum: 0.9, epsilon: 1e-3 }), x, w);
    assert.equal(ours.out.length, stock.out.length);
    // y, dx, gamma, beta, moving_mean, moving_variance (the stats moved twice: apply + grads).
    stock.out.forEach((s, i) =>
      assert.ok(relErr(ours.out[i], s) < 1e-4, `tensor ${i}: ${relErr(ours.out[i], s)}`),
    );
    assert.ok(relErr(ours.infer, stock.infer) < 1e-5);
    assert.ok(relErr(ours.out[4], new Float32Array(5)) > 0.01, 'moving mean moved');
    tf.dispose([x, w]);
  });

  test(`Swish equals the stock swish activation on ${backend}: output and gradient`, async () => {
    await selectBackend(backend);
    if (backend === 'wasm') registerFastKernels();
    const x = tf.tensor4d(data(2 * 4 * 4 * 3, 3), [2, 4, 4, 3]);
    const w = tf.tensor4d(data(2 * 4 * 4 * 3, 4), [2, 4, 4, 3]);
    const stock = step(tf.layers.activation({ activation: 'swish' }), x, w);
    const ours = step(new Swish(), x, w);
    stock.out.forEach((s, i) =>
      assert.ok(relErr(ours.out[i], s) < 1e-5, `tensor ${i}: ${relErr(ours.out[i], s)}`),
    );
    tf.dispose([x, w]);
  });
}

test('BatchNorm and Swish save and load as EdgeDmpBatchNorm / EdgeDmpSwish with the same weights', async () => {
  await selectBackend('cpu');
  const input = tf.input({ shape: [4, 4, 3] });
  const bn = new BatchNorm({ momentum: 0.8, epsilon: 1e-3, name: 'bn' });
  const model = tf.model({
    inputs: input,
    outputs: new Swish({ name: 'act' }).apply(bn.apply(input)) as tf.SymbolicTensor,
  });
  bn.setWeights(bn.getWeights().map((t, i) => tf.fill(t.shape, 0.5 + i)));
  const dir = mkdtempSync(join(tmpdir(), 'edmp-norm-'));
  try {
    await saveModel(model, dir);
    const back = await loadModel(dir);
    assert.deepEqual(
      back.layers.map((l) => l.getClassName()),
      ['InputLayer', 'EdgeDmpBatchNorm', 'EdgeDmpSwish'],
    );
    assert.ok(isBatchNorm(back.layers[1]));
    assert.equal((back.layers[1] as BatchNorm).momentum, 0.8);
    const x = tf.tensor4d(data(48, 5), [1, 4, 4, 3]);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    assert.ok(relErr(b, a) < 1e-7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
