import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ChannelDuplicate,
  ChannelMaxPool,
  DropConnect,
  channelDuplicate,
  channelMaxPool,
  selectBackend,
  saveModel,
  loadModel,
  createModel,
  ConfigError,
  ModelError,
  type ChannelOrder,
} from '../sdk/index.js';

// Plain-JS references over flat NHWC arrays.
function refDuplicate(x: Float32Array, pixels: number, c: number, t: number, order: ChannelOrder) {
  const out = new Float32Array(pixels * c * t);
  for (let p = 0; p < pixels; p++)
    for (let k = 0; k < c * t; k++) {
      const src = order === 'interleave' ? Math.floor(k / t) : k % c;
      out[p * c * t + k] = x[p * c + src];
    }
  return out;
}
function groupOf(k: number, cin: number, t: number, order: ChannelOrder) {
  const g = cin / t;
  return order === 'interleave' ? Math.floor(k / t) : k % g;
}
function refMaxPool(x: Float32Array, pixels: number, cin: number, t: number, order: ChannelOrder) {
  const g = cin / t;
  const out = new Float32Array(pixels * g).fill(-Infinity);
  for (let p = 0; p < pixels; p++)
    for (let k = 0; k < cin; k++) {
      const o = p * g + groupOf(k, cin, t, order);
      out[o] = Math.max(out[o], x[p * cin + k]);
    }
  return out;
}
function refDuplicateGrad(dy: Float32Array, pixels: number, c: number, t: number, order: ChannelOrder) {
  const gx = new Float32Array(pixels * c);
  for (let p = 0; p < pixels; p++)
    for (let k = 0; k < c * t; k++) {
      const src = order === 'interleave' ? Math.floor(k / t) : k % c;
      gx[p * c + src] += dy[p * c * t + k];
    }
  return gx;
}
function refMaxPoolGrad(
  x: Float32Array,
  dy: Float32Array,
  pixels: number,
  cin: number,
  t: number,
  order: ChannelOrder,
) {
  const g = cin / t;
  const m = refMaxPool(x, pixels, cin, t, order);
  const gx = new Float32Array(pixels * cin);
  for (let p = 0; p < pixels; p++)
    for (let k = 0; k < cin; k++) {
      const o = p * g + groupOf(k, cin, t, order);
      if (x[p * cin + k] === m[o]) gx[p * cin + k] = dy[o];
    }
  return gx;
}
function close(a: Float32Array | number[], b: Float32Array, tol = 1e-5) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `index ${i}: ${a[i]} vs ${b[i]}`);
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const order of ['interleave', 'tile'] as const) {
    test(`${backend}/${order}: ChannelDuplicate forward and gradient match the plain-JS reference`, async () => {
      await selectBackend(backend);
      const [n, h, w, c, t] = [2, 3, 5, 4, 3];
      const x = tf.randomNormal([n, h, w, c]) as tf.Tensor4D;
      const r = tf.randomNormal([n, h, w, c * t]);
      const y = channelDuplicate(x, t, order);
      assert.deepEqual(y.shape, [n, h, w, c * t]);
      const xv = x.dataSync() as Float32Array;
      close(y.dataSync() as Float32Array, refDuplicate(xv, n * h * w, c, t, order));
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(channelDuplicate(a as tf.Tensor4D, t, order), r)))(x);
      close(
        g.dataSync() as Float32Array,
        refDuplicateGrad(r.dataSync() as Float32Array, n * h * w, c, t, order),
      );
      tf.dispose([x, r, y, g]);
    });

    test(`${backend}/${order}: ChannelMaxPool forward and gradient match the plain-JS reference`, async () => {
      await selectBackend(backend);
      const [n, h, w, cin, t] = [2, 3, 4, 12, 3];
      const x = tf.randomNormal([n, h, w, cin]) as tf.Tensor4D;
      const r = tf.randomNormal([n, h, w, cin / t]);
      const y = channelMaxPool(x, t, order);
      assert.deepEqual(y.shape, [n, h, w, cin / t]);
      const xv = x.dataSync() as Float32Array;
      close(y.dataSync() as Float32Array, refMaxPool(xv, n * h * w, cin, t, order));
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(channelMaxPool(a as tf.Tensor4D, t, order), r)))(x);
      const gv = g.dataSync() as Float32Array;
      close(gv, refMaxPoolGrad(xv, r.dataSync() as Float32Array, n * h * w, cin, t, order));
      // Exactly one non-zero gradient per group (random data has no ties).
      assert.equal(gv.filter((v) => v !== 0).length, n * h * w * (cin / t));
      tf.dispose([x, r, y, g]);
    });

    test(`${backend}/${order}: duplicate then max-pool is the identity (each group holds copies of one channel)`, async () => {
      await selectBackend(backend);
      const x = tf.randomNormal([1, 4, 4, 5]) as tf.Tensor4D;
      const y = channelMaxPool(channelDuplicate(x, 6, order), 6, order);
      close(y.dataSync() as Float32Array, x.dataSync() as Float32Array, 0);
      tf.dispose([x, y]);
    });
  }
}

test('layers serialize: className, getConfig, registerClass round trip', async () => {
  await selectBackend('cpu');
  for (const [Cls, args] of [
    [ChannelDuplicate, { t: 6, order: 'tile' }],
    [ChannelMaxPool, { t: 4, order: 'interleave' }],
    [DropConnect, { rate: 0.3 }],
  ] as const) {
    const layer = new (Cls as new (a: object) => tf.layers.Layer)({ ...args, name: `x_${Cls.className}` });
    const ser = tf.serialization.SerializationMap.getMap().classNameMap[Cls.className];
    assert.ok(ser, `${Cls.className} is registered`);
    const config = layer.getConfig();
    for (const [k, v] of Object.entries(args)) assert.equal(config[k], v);
    const [cls, fromConfig] = ser;
    const back = fromConfig(cls, config) as tf.layers.Layer;
    assert.equal(back.getClassName(), Cls.className);
    assert.deepEqual(back.getConfig(), config);
  }
});

test('bad layer arguments are ConfigErrors', () => {
  assert.throws(
    () => new ChannelDuplicate({ t: 0 }),
    (e: unknown) => e instanceof ConfigError && e.field === 'ChannelDuplicate.t',
  );
  assert.throws(
    () => new ChannelMaxPool({ t: 2, order: 'zigzag' as never }),
    (e: unknown) => e instanceof ConfigError && e.field === 'ChannelMaxPool.order',
  );
  assert.throws(
    () => new DropConnect({ rate: 1 }),
    (e: unknown) => e instanceof ConfigError && e.field === 'DropConnect.rate',
  );
});

test('DropConnect is identity at inference and drops whole samples in training', async () => {
  await selectBackend('cpu');
  const layer = new DropConnect({ rate: 0.5 });
  const x = tf.ones([64, 2, 2, 3]);
  const inf = layer.apply(x) as tf.Tensor;
  assert.equal(tf.sum(tf.abs(tf.sub(inf, x))).dataSync()[0], 0);
  const tr = layer.call(x, { training: true }) as tf.Tensor;
  const perSample = tf.sum(tr, [1, 2, 3]).dataSync();
  const dropped = Array.from(perSample).filter((v) => v === 0).length;
  for (const v of perSample) assert.ok(v === 0 || Math.abs(v - 24) < 1e-4, `sample sum ${v}`);
  assert.ok(dropped > 10 && dropped < 54, `dropped ${dropped} of 64`);
});

for (const order of ['interleave', 'tile'] as const) {
  test(`save/load (${order}) restores the custom layers and gives identical outputs`, async () => {
    await selectBackend('cpu');
    const dir = await mkdtemp(join(tmpdir(), 'edmp-io-'));
    try {
      const m = createModel({
        model: 'efficientnet-b0',
        variant: 'dmp',
        classes: 5,
        inputSize: 32,
        widthMult: 0.25,
        depthMult: 0.5,
        channelOrder: order,
      });
      const x = tf.randomUniform([2, 32, 32, 3]);
      const a = m.predict(x) as tf.Tensor;
      await saveModel(m, dir);
      const back = await loadModel(dir);
      const b = back.predict(x) as tf.Tensor;
      assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
      const dup = back.layers.find((l) => l.getClassName() === 'ChannelDuplicate') as ChannelDuplicate;
      assert.equal(dup.order, order);
      assert.equal(
        (back.getUserDefinedMetadata() as { edgeDmp: { variant: string } }).edgeDmp.variant,
        'dmp',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('loading from an unreadable directory is a ModelError naming the path', async () => {
  await assert.rejects(
    loadModel('/nonexistent/edge-dmp-model'),
    (e: unknown) => e instanceof ModelError && e.field.includes('/nonexistent/edge-dmp-model'),
  );
});

test('backend selection: auto picks wasm here; unknown names are ConfigErrors', async () => {
  const name = await selectBackend();
  // tfjs-node cannot install on this machine, so auto falls through to wasm.
  assert.equal(name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  await assert.rejects(
    selectBackend('tpu'),
    (e: unknown) => e instanceof ConfigError && e.field === '--backend',
  );
  await assert.rejects(
    selectBackend('node'),
    (e: unknown) => e instanceof ConfigError && e.field === '--backend',
  );
});
