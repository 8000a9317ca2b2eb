import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, registerFastKernels, channelDuplicate, channelMaxPool } from '../sdk/index.js';
import { batchNormTraining } from '../sdk/kernels/batchnorm.js';
import { swish } from '../sdk/kernels/swish.js';
import { channelDuplicateFast, channelMaxPoolFast } from '../sdk/kernels/channel.js';
import { setSimdEnabled, simdKernels } from '../sdk/kernels/simd.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { EdgeDmpAdam } from '../sdk/train/adam.js';

// Every kernel of sdk/kernels on `wasm` against the stock tfjs `cpu` result for the same inputs:
// normwise relative error max|ours - stock| / max|stock| <= 1e-4.
const TOL = 1e-4;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
function randArray(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2);
}
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function relErr(ours: ArrayLike<number>, stock: ArrayLike<number>): number {
  assert.equal(ours.length, stock.length, 'lengths');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < stock.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - stock[i]));
    scale = Math.max(scale, Math.abs(stock[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/** Runs f on a backend and returns its outputs as plain arrays. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend);
  if (backend === 'wasm') registerFastKernels();
  const before = tf.memory().numTensors;
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const arrays = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensors left behind`);
  return arrays;
}

/** Stock cpu vs ours on wasm, with the SIMD WebAssembly kernels and with their JS fallbacks. */
async function compare(name: string, f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const stock = await on('cpu', f);
  for (const simd of [true, false]) {
    setSimdEnabled(simd);
    try {
      const ours = await on('wasm', f);
      stock.forEach((s, i) => {
        const e = relErr(ours[i], s);
        assert.ok(e <= TOL, `${name} output ${i} (${simd ? 'SIMD' : 'JS'}): relative error ${e}`);
      });
    } finally {
      setSimdEnabled(true);
    }
  }
}

type Pad = 'same' | 'valid';
const CASES: { k: number; s: number; pad: Pad; batch: number }[] = [];
for (const k of [1, 3, 5])
  for (const s of [1, 2])
    for (const pad of ['same', 'valid'] as Pad[])
      for (const batch of [1, 3]) CASES.push({ k, s, pad, batch });

test('Conv2DBackpropFilter and Conv2DBackpropInput match stock cpu (k 1/3/5, stride 1/2, same/valid, batch 1/3, odd sizes)', async () => {
  let seed = 1;
  for (const { k, s, pad, batch } of CASES) {
    const [h, w, cin, cout] = [7, 9, 3, 5];
    const xShape: [number, number, number, number] = [batch, h, w, cin];
    const fShape: [number, number, number, number] = [k, k, cin, cout];
    const info = tf.backend_util.computeConv2DInfo(xShape, fShape, s, 1, pad);
    const dyShape = [batch, info.outHeight, info.outWidth, cout];
    const xv = randArray(size(xShape), seed++);
    const fv = randArray(size(fShape), seed++);
    const dyv = randArray(size(dyShape), seed++);
    await compare(`conv k${k} s${s} ${pad} b${batch}`, () => {
      const x = tf.tensor(xv, xShape);
      const filter = tf.tensor(fv, fShape);
      const dy = tf.tensor(dyv, dyShape);
      const attrs = { strides: s, pad, dataFormat: 'NHWC', filterShape: fShape, inputShape: xShape };
      const e = tf.engine();
      return [
        e.runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor,
        e.runKernel('Conv2DBackpropInput', { dy, filter }, attrs) as tf.Tensor,
      ];
    });
  }
});

test('1x1 conv gradients match stock cpu on wide channels (the matmul paths, few and many positions)', async () => {
  for (const [n, cin, cout] of [
    [2, 40, 7],
    [2, 6, 48],
    [5, 37, 9],
    [5, 9, 37],
  ]) {
    // 2x5x3 = 30 positions: SIMD A.B^T input gradient; 5x9x9 = 405: transpose + XNNPACK.
    const xShape: [number, number, number, number] = n === 2 ? [2, 5, 3, cin] : [5, 9, 9, cin];
    const dyShape = [...xShape.slice(0, 3), cout];
    const fShape: [number, number, number, number] = [1, 1, cin, cout];
    const xv = randArray(size(xShape), cin);
    const fv = randArray(size(fShape), cout);
    const dyv = randArray(size(dyShape), cin + cout);
    await compare(`conv1x1 ${xShape} ${cin}->${cout}`, () => {
      const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: fShape, inputShape: xShape };
      const dy = tf.tensor(dyv, dyShape);
      return [
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xShape), dy }, attrs) as tf.Tensor,
        tf
          .engine()
          .runKernel('Conv2DBackpropInput', { dy, filter: tf.tensor(fv, fShape) }, attrs) as tf.Tensor,
      ];
    });
  }
});

test('depthwise filter and input gradients match stock cpu (channel multiplier 1 and 2)', async () => {
  let seed = 100;
  for (const { k, s, pad, batch } of CASES) {
    for (const mult of [1, 2]) {
      const [h, w, c] = [9, 7, 6];
      const xShape: [number, number, number, number] = [batch, h, w, c];
      const fShape: [number, number, number, number] = [k, k, c, mult];
      const info = tf.backend_util.computeConv2DInfo(xShape, fShape, s, 1, pad, undefined, true);
      const dyShape = [batch, info.outHeight, info.outWidth, c * mult];
      const xv = randArray(size(xShape), seed++);
      const fv = randArray(size(fShape), seed++);
      const dyv = randArray(size(dyShape), seed++);
      await compare(`depthwise k${k} s${s} ${pad} b${batch} m${mult}`, () => {
        const attrs = { strides: s, pad, dilations: 1, filterShape: fShape, inputShape: xShape };
        const dy = tf.tensor(dyv, dyShape);
        return [
          tf
            .engine()
            .runKernel(
              'DepthwiseConv2dNativeBackpropFilter',
              { x: tf.tensor(xv, xShape), dy },
              attrs,
            ) as tf.Tensor,
          tf
            .engine()
            .runKernel(
              'DepthwiseConv2dNativeBackpropInput',
              { dy, filter: tf.tensor(fv, fShape) },
              attrs,
            ) as tf.Tensor,
        ];
      });
    }
  }
});

test('fused BatchNorm (training) matches tfjs moments + batchNorm: outputs, statistics and gradients', async () => {
  for (const shape of [
    [3, 5, 7, 6],
    [1, 4, 4, 13],
    [8, 11],
  ]) {
    const c = shape[shape.length - 1];
    const xv = randArray(size(shape), c).map((v) => v * 3 + 1);
    const gv = randArray(c, c + 1).map((v) => v + 1);
    const bv = randArray(c, c + 2);
    const dyv = randArray(size(shape), c + 3);
    const axes = shape.slice(0, -1).map((_, i) => i);
    await compare(`batchnorm ${shape}`, () => {
      const x = tf.tensor(xv, shape);
      const gamma = tf.tensor1d(gv);
      const beta = tf.tensor1d(bv);
      const dy = tf.tensor(dyv, shape);
      const fused = tf.getBackend() === 'wasm';
      const forward = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        if (fused) return batchNormTraining(a, g, b, 1e-3);
        const m = tf.moments(a, axes);
        return [tf.batchNorm(a, m.mean, m.variance, b, g, 1e-3), m.mean, m.variance];
      };
      const [y, mean, variance] = forward(x, gamma, beta);
      const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(forward(a, g, b)[0], dy)),
      )([x, gamma, beta]);
      return [y, mean, variance, ...grads];
    });
  }
});

test('fused swish matches x * sigmoid(x) and its gradient', async () => {
  const xv = randArray(4 * 5 * 6, 7).map((v) => v * 8);
  const dyv = randArray(4 * 5 * 6, 8);
  await compare('swish', () => {
    const x = tf.tensor(xv, [4, 5, 6]);
    const dy = tf.tensor(dyv, [4, 5, 6]);
    const f = (a: tf.Tensor) => (tf.getBackend() === 'wasm' ? swish(a) : tf.mul(a, tf.sigmoid(a)));
    return [f(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), dy)))(x)];
  });
});

test('fused channel duplicate / max-pool match sdk/layers (both orders, t 2 and 6, with ties)', async () => {
  for (const order of ['interleave', 'tile'] as const) {
    for (const t of [2, 6]) {
      const xs: [number, number, number, number] = [2, 3, 5, 4];
      const xv = randArray(size(xs), t);
      const pv = randArray(size(xs) * t, t + 1);
      pv[0] = pv[1] = pv[2 * 4] = 0.5; // ties in the first pooling groups
      const dupDy = randArray(size(xs) * t, t + 2);
      const poolDy = randArray(size(xs), t + 3);
      await compare(`channels ${order} t${t}`, () => {
        const fast = tf.getBackend() === 'wasm';
        const dup = (a: tf.Tensor) =>
          fast ? channelDuplicateFast(a, t, order) : channelDuplicate(a as tf.Tensor4D, t, order);
        const pool = (a: tf.Tensor) =>
          fast ? channelMaxPoolFast(a, t, order) : channelMaxPool(a as tf.Tensor4D, t, order);
        const x = tf.tensor(xv, xs);
        const p = tf.tensor(pv, [2, 3, 5, 4 * t]);
        return [
          dup(x),
          tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dup(a), tf.tensor(dupDy, [2, 3, 5, 4 * t]))))(x),
          pool(p),
          tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pool(a), tf.tensor(poolDy, xs))))(p),
        ];
      });
    }
  }
});

test('EdgeDmpAdam (fused on wasm, tf ops on cpu) matches tf.train.adam: weights and optimizer state over 4 steps with a changing learning rate', async () => {
  const target = randArray(37, 5);
  const init = randArray(37, 6);
  const scale = randArray(37, 7).map((v) => v + 1.5);
  const run = async (backend: 'cpu' | 'wasm', stockAdam = false) => {
    await selectBackend(backend);
    if (backend === 'wasm') registerFastKernels();
    const w = tf.variable(tf.tensor1d(init), true, `adam_w_${backend}`);
    const b = tf.variable(tf.tensor2d(init.slice(0, 12), [3, 4]), true, `adam_b_${backend}`);
    const opt = stockAdam ? tf.train.adam(0.05, 0.9, 0.999, 1e-8) : new EdgeDmpAdam(0.05, 0.9, 0.999, 1e-8);
    for (let i = 0; i < 4; i++) {
      // tf.train.adam has no setter; the field is public in its JS.
      (opt as unknown as { learningRate: number }).learningRate = 0.05 / (i + 1);
      const loss = opt.minimize(
        () =>
          tf.add(
            tf.sum(tf.mul(tf.square(tf.sub(w, tf.tensor1d(target))), tf.tensor1d(scale))),
            tf.sum(tf.abs(b)),
          ),
        true,
      );
      loss?.dispose();
    }
    const state = await opt.getWeights();
    const out = [w, b, ...state.slice(1).map((s) => s.tensor)].map((t) => Float32Array.from(t.dataSync()));
    tf.dispose([w, b]);
    opt.dispose();
    return out;
  };
  const stock = await run('cpu', true);
  const plain = await run('cpu');
  assert.equal(plain.length, 6);
  stock.forEach((s, i) =>
    assert.ok(relErr(plain[i], s) <= 1e-6, `cpu adam output ${i}: ${relErr(plain[i], s)}`),
  );
  for (const simd of [true, false]) {
    setSimdEnabled(simd);
    const ours = await run('wasm');
    setSimdEnabled(true);
    assert.equal(ours.length, 6, 'w, b and their m and v');
    stock.forEach((s, i) =>
      assert.ok(relErr(ours[i], s) <= TOL, `adam output ${i} (simd ${simd}): ${relErr(ours[i], s)}`),
    );
  }
});

test('registerFastKernels is idempotent and names what it registered', async () => {
  await selectBackend('wasm');
  const a = registerFastKernels();
  const b = registerFastKernels('wasm');
  assert.deepEqual(a, b);
  for (const k of [
    'Conv2DBackpropFilter',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
  ]) {
    assert.ok(a.includes(k), k);
    assert.ok(tf.getKernel(k, 'wasm'), `${k} registered for wasm`);
  }
  assert.deepEqual(registerFastKernels('cpu'), []);
  // Node 20 has WebAssembly SIMD: the SIMD kernels must be the ones the other tests exercised.
  assert.ok(simdKernels(tf.backend() as BackendWasm), 'SIMD kernels instantiated on the wasm heap');
});
