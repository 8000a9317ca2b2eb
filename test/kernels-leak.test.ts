import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createModel, selectBackend, registerFastKernels } from '../sdk/index.js';
import { EdgeDmpAdam } from '../sdk/train/adam.js';

// The fast path (wasm + sdk/kernels, with dropout and stochastic depth on) leaves no tensor behind.
test('no tensor leak: numTensors flat over 100 Adam steps on the fast path', async () => {
  await selectBackend('wasm');
  registerFastKernels();
  const model = createModel({
    model: 'efficientnet-b0',
    variant: 'dmp',
    classes: 3,
    inputSize: 16,
    widthMult: 0.25,
    depthMult: 0.25,
    dropout: 0.2,
    dropConnect: 0.2,
  });
  const x = tf.randomNormal([4, 16, 16, 3]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3);
  const opt = new EdgeDmpAdam(0.01);
  const step = () => {
    const l = opt.minimize(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      true,
    );
    l?.dispose();
  };
  step();
  const after1 = tf.memory().numTensors;
  for (let i = 1; i < 100; i++) step();
  assert.equal(tf.memory().numTensors, after1);
  opt.dispose();
  model.dispose();
  tf.dispose([x, y]);
});
