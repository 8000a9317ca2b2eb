/**
 * Host/device parity: a zoo model (EfficientNet-B0 DMP at width 0.25, depth 0.34, 32x32) trained
 * for a few steps in tfjs on a 4-class colour task, then converted by the converter and run by the
 * device classifier (sharp decoding/preprocessing + TFLite runtime) on real PNG/JPEG test images.
 * fp32: top-1 agrees with tfjs on every image; int8 (full integer, float I/O): on >= 99%.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { convertModel } from '../converter/convert.js';
import { createClassifier, decodeFrame, resizePixels, toInputTensor } from '../device/index.js';
import { createModel, registerFastKernels, selectBackend } from '../sdk/index.js';
import { withSeededRandom } from '../core/random.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { BatchNorm } from '../sdk/norm-layers.js';
import { EdgeDmpAdam } from '../sdk/train/adam.js';

const LABELS = ['red', 'green', 'blue', 'gray'];
const SPEC = defaultPreprocess([32, 32], 3);

/**
 * Deterministic images of 4 classes (dominant channel, or gray) with per-pixel noise, at sizes
 * other than 32x32, alternating PNG and JPEG.
 */
async function images(n: number, seed: number): Promise<{ bytes: Buffer[]; labels: number[] }> {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
  const bytes: Buffer[] = [];
  const labels: number[] = [];
  for (let k = 0; k < n; k++) {
    const cls = k % 4;
    const w = 40 + (k % 5) * 8;
    const h = 36 + (k % 3) * 10;
    const px = Buffer.alloc(w * h * 3);
    const level = 0.7 + 0.2 * rnd();
    for (let i = 0; i < w * h; i++) {
      for (let c = 0; c < 3; c++) {
        const base = cls === 3 ? 0.5 : c === cls ? level : 0.15;
        px[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, base + (rnd() - 0.5) * 0.3)));
      }
    }
    const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
    bytes.push(await (k % 2 ? img.jpeg({ quality: 85 }) : img.png()).toBuffer());
    labels.push(cls);
  }
  return { bytes, labels };
}

/** The device's own decoding and preprocessing, batched for tfjs. */
async function batchOf(bytes: Buffer[]): Promise<tf.Tensor4D> {
  const input = { shape: [1, 32, 32, 3], dtype: 'float32' as const };
  const xs = await Promise.all(
    bytes.map(async (b) => toInputTensor(await resizePixels(await decodeFrame(b), SPEC), SPEC, input)),
  );
  const flat = new Float32Array(xs.length * 32 * 32 * 3);
  xs.forEach((x, i) => flat.set(x, i * x.length));
  return tf.tensor4d(flat, [xs.length, 32, 32, 3]);
}

/** Sets BatchNorm moving statistics to the batch's (one training-mode pass at momentum 0). */
function calibrateBatchNorm(m: tf.LayersModel, x: tf.Tensor4D): void {
  const bns = m.layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
  for (const l of bns) l.momentum = 0;
  tf.dispose(m.apply(x, { training: true }) as tf.Tensor);
  for (const l of bns) l.momentum = 0.99;
}

async function deviceTop1(tflite: Uint8Array, bytes: Buffer[]): Promise<number[]> {
  const c = await createClassifier({ model: tflite, labels: LABELS, preprocessing: SPEC });
  const out: number[] = [];
  for (const b of bytes) out.push(LABELS.indexOf((await c.classify(b)).label));
  c.dispose();
  return out;
}

test('tfjs and the device runtime agree on top-1: every image in fp32, >= 99% in int8', async () => {
  await selectBackend('wasm');
  registerFastKernels();
  // Seeded init, so the test does not depend on an unseeded draw.
  const model = withSeededRandom(5, () =>
    createModel({
      model: 'efficientnet-b0',
      variant: 'dmp',
      classes: 4,
      inputSize: 32,
      widthMult: 0.25,
      depthMult: 0.34,
      dropout: 0,
      dropConnect: 0,
    }),
  );
  const train = await images(48, 1);
  const testSet = await images(100, 2);
  const xTrain = await batchOf(train.bytes);
  const yTrain = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 4);
  const opt = new EdgeDmpAdam(0.005);
  for (let i = 0; i < 10; i++) {
    const loss = opt.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          yTrain,
          model.apply(xTrain, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      true,
    );
    loss?.dispose();
  }
  calibrateBatchNorm(model, xTrain);

  const xTest = await batchOf(testSet.bytes);
  const hostTop = Array.from((model.predict(xTest) as tf.Tensor).argMax(-1).dataSync());
  // The model learned the task, so its classes are spread (agreement on one class would be trivial).
  const acc = hostTop.filter((p, i) => p === testSet.labels[i]).length / hostTop.length;
  assert.ok(acc >= 0.9, `host accuracy ${acc}`);

  const fp32 = await convertModel(model, { quantize: 'fp32' });
  assert.deepEqual(await deviceTop1(fp32.tflite, testSet.bytes), hostTop);

  const int8 = await convertModel(model, { quantize: 'int8', calib: { x: xTrain }, force: true });
  const q = await deviceTop1(int8.tflite, testSet.bytes);
  const agree = q.filter((p, i) => p === hostTop[i]).length;
  if (process.env.EDMP_VERBOSE)
    console.log(`host accuracy ${acc}, int8 agreement ${agree}/${hostTop.length}`);
  assert.ok(agree / hostTop.length >= 0.99, `int8 top-1 agreement ${agree}/${hostTop.length}`);
  tf.dispose([xTrain, yTrain, xTest]);
  opt.dispose();
  model.dispose();
});
