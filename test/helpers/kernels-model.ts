/**
 * Whole-model gradient comparison for test/kernels-model-*.test.ts: the project's CPU path
 * (wasm + sdk/kernels) against stock tfjs `cpu`, EfficientNet-B0 at full width and depth,
 * 32x32 input, batch 4.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createModel, selectBackend, registerFastKernels, type Variant } from '../../sdk/index.js';

/**
 * max|ours - stock| / max(max|stock|, floor): normwise per weight, with a floor at 1e-3 of the
 * largest gradient in the model. Below it a gradient is float32 noise: e.g. the beta of a BN whose
 * output only feeds convs followed by other BNs has an exact gradient of 0 (stock: ~1e-8).
 */
function rel(a: Float32Array, b: Float32Array, floor: number): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / Math.max(s, floor);
}

interface Grads {
  loss: number;
  grads: Map<string, Float32Array>;
}

async function gradsOn(
  backend: 'cpu' | 'wasm',
  model: tf.LayersModel,
  xv: Float32Array,
  labels: number[],
): Promise<Grads> {
  await selectBackend(backend);
  if (backend === 'wasm') registerFastKernels();
  const x = tf.tensor4d(xv, [labels.length, 32, 32, 3]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(k, Float32Array.from(g.dataSync()));
  const loss = value.dataSync()[0];
  tf.dispose([x, y, value, ...Object.values(grads)]);
  return { loss, grads: out };
}

/**
 * Runs f with Math.random replaced by a seeded generator: tfjs seeds its initializers from
 * Math.random, so this makes the zoo's random init (and the figures below) reproducible.
 */
function seeded<T>(seed: number, f: () => T): T {
  const original = Math.random;
  let s = seed >>> 0;
  Math.random = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  try {
    return f();
  } finally {
    Math.random = original;
  }
}

/** Asserts that every weight gradient of efficientnet-b0/<variant> matches stock tfjs cpu. */
export async function checkModelGradients(variant: Variant): Promise<void> {
  await selectBackend('cpu');
  const model = seeded(12345, () =>
    createModel({
      model: 'efficientnet-b0',
      variant,
      classes: 10,
      inputSize: 32,
      dropout: 0,
      dropConnect: 0,
    }),
  );
  // Batch 4: at 32x32 the last stages are 1x1, so BN there normalizes over 4 values per channel.
  const n = 4;
  const xv = Float32Array.from(
    { length: n * 32 * 32 * 3 },
    (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 0.011),
  );
  const labels = [3, 7, 0, 9];
  const stock = await gradsOn('cpu', model, xv, labels);
  const ours = await gradsOn('wasm', model, xv, labels);
  assert.ok(
    Math.abs(ours.loss - stock.loss) <= 1e-4 * Math.abs(stock.loss),
    `loss ${ours.loss} vs ${stock.loss}`,
  );
  assert.equal(ours.grads.size, stock.grads.size);
  assert.equal(stock.grads.size, model.trainableWeights.length);
  let largest = 0;
  for (const g of stock.grads.values()) for (const v of g) largest = Math.max(largest, Math.abs(v));
  let worst = 0;
  let worstName = '';
  let diff2 = 0;
  let norm2 = 0;
  for (const [name, g] of stock.grads) {
    const o = ours.grads.get(name)!;
    const e = rel(o, g, 1e-3 * largest);
    if (e > worst) [worst, worstName] = [e, name];
    for (let i = 0; i < g.length; i++) {
      diff2 += (o[i] - g[i]) ** 2;
      norm2 += g[i] ** 2;
    }
  }
  // The whole gradient (every weight, one vector) within 1e-4; each weight within 1e-3: float32
  // sums (XNNPACK forward convs, SIMD kernels) vs the cpu backend's float64 loops differ by ~1e-6
  // per op and add up through 16 blocks and BNs over 4 samples; over random inits the whole-vector
  // error moves with the random init, so the init is seeded.
  const global = Math.sqrt(diff2 / norm2);
  console.log(`${variant}: whole-gradient relative error ${global}, worst weight ${worst} (${worstName})`);
  assert.ok(global <= 1e-4, `whole-gradient relative error ${global}`);
  assert.ok(worst <= 1e-3, `worst per-weight relative gradient error ${worst} at ${worstName}`);
  model.dispose();
}
