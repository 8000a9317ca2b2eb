import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BatchNorm, selectBackend } from '../sdk/index.js';
import { preciseBatchNorm } from '../sdk/train/index.js';

test('precise BN (our BatchNorm layer) sets running statistics to the exact average of the batch statistics', async () => {
  await selectBackend('cpu');
  const input = tf.input({ shape: [2, 2, 3] });
  const bn = new BatchNorm({ momentum: 0.9, epsilon: 1e-3 });
  const model = tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor });
  const a = Float32Array.from({ length: 4 * 12 }, (_, i) => (i % 7) - 1);
  const b = Float32Array.from({ length: 4 * 12 }, (_, i) => 3 + ((i * 5) % 11));
  async function* batches() {
    yield { x: a, y: new Int32Array(4), size: 4 };
    yield { x: b, y: new Int32Array(4), size: 4 };
  }
  await preciseBatchNorm(model, batches(), { shape: [2, 2, 3], seed: 1 });
  const [, , movingMean] = bn.getWeights();
  const mean = (v: Float32Array) =>
    tf.tidy(() => tf.mean(tf.tensor4d(v, [4, 2, 2, 3]), [0, 1, 2]).arraySync() as number[]);
  const ma = mean(a);
  const mb = mean(b);
  const got = movingMean.arraySync() as number[];
  got.forEach((g, c) => assert.ok(Math.abs(g - (ma[c] + mb[c]) / 2) < 1e-5, `channel ${c}: ${g}`));
  // The layer's own momentum is restored for training.
  assert.equal(bn.momentum, 0.9);
});
