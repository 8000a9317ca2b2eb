import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  createModel,
  listModels,
  selectBackend,
  registerFastKernels,
  withSeededRandom,
} from '../sdk/index.js';
import { EdgeDmpAdam } from '../sdk/train/adam.js';

// Every registered model, at small width/depth/input, on both CPU backends: finite logits of the
// right shape, and a few Adam steps on a fixed batch lower the training loss.
const CLASSES = 3;

function batch() {
  // Deterministic inputs: labels follow the mean brightness, so there is something to learn.
  const n = 6;
  const x = tf.tidy(() =>
    tf.mul(tf.linspace(0, 1, n).reshape([n, 1, 1, 1]), tf.ones([n, 16, 16, 3])).add(0.1),
  );
  const y = tf.oneHot(tf.tensor1d([0, 0, 1, 1, 2, 2], 'int32'), CLASSES);
  return { x, y };
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const entry of listModels()) {
    for (const variant of ['baseline', 'dmp'] as const) {
      test(`${backend}: ${entry.name}/${variant} runs forward and trains`, async () => {
        await selectBackend(backend);
        registerFastKernels();
        const before = tf.memory().numTensors;
        // Seeded initial weights: the check is about the backends, not about a lucky draw.
        const model = withSeededRandom(7, () =>
          createModel({
            model: entry.name,
            variant,
            classes: CLASSES,
            inputSize: 16,
            widthMult: 0.1,
            depthMult: 0.1,
            dropout: 0,
            dropConnect: 0,
          }),
        );
        const { x, y } = batch();
        const logits = model.predict(x) as tf.Tensor;
        assert.deepEqual(logits.shape, [6, CLASSES]);
        assert.ok(
          (logits.dataSync() as Float32Array).every((v) => Number.isFinite(v)),
          'finite logits',
        );
        logits.dispose();
        // A small step size: Adam moves every weight by ~lr per step, so this descends reliably.
        const opt = new EdgeDmpAdam(0.002);
        const lossOf = () =>
          tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
        const losses: number[] = [];
        for (let i = 0; i < 5; i++) {
          const l = opt.minimize(lossOf, true) as tf.Scalar;
          losses.push(l.dataSync()[0]);
          l.dispose();
        }
        assert.ok(losses.every(Number.isFinite), `finite losses ${losses}`);
        // Mean of the last two against the first: robust to one noisy step.
        assert.ok((losses[3] + losses[4]) / 2 < losses[0], `loss went ${losses.join(' -> ')}`);
        opt.dispose();
        model.dispose();
        tf.dispose([x, y]);
        assert.ok(tf.memory().numTensors <= before + 2, `tensors ${before} -> ${tf.memory().numTensors}`);
      });
    }
  }
}
