/**
 * Each lowered layer against tfjs, through the real TFLite runtime: the ops emitted (read back from
 * the written flatbuffer) and the numbers (fp32, max abs difference <= 1e-3 of the output range).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { lowerModel, type LowerOptions } from '../converter/lower.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { readTflite } from '../core/tflite/reader.js';
import { int8Params, quantizeGraph, quantizeSymmetric, toHalf } from '../converter/quantize.js';
import { calibrate, swishInputs } from '../converter/convert.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { ChannelDuplicate, ChannelMaxPool, DropConnect } from '../sdk/layers.js';
import { ModelError } from '../core/errors.js';
import { isBatchNorm } from '../sdk/norm-layers.js';

type Sym = tf.SymbolicTensor;

before(async () => {
  await tf.setBackend('cpu');
});

/** Gives every BatchNormalization non-trivial statistics so folding is actually exercised. */
function randomizeBn(m: tf.LayersModel): void {
  for (const l of m.layers) {
    if (!isBatchNorm(l)) continue;
    l.setWeights(
      l
        .getWeights()
        .map((w, i) =>
          i === 3
            ? tf.randomUniform(w.shape, 0.5, 1.5, 'float32', 7)
            : tf.randomUniform(w.shape, -0.5, 0.5, 'float32', 8 + i),
        ),
    );
  }
}

/** Converts, runs in TFLite on 3 random inputs, compares with tfjs; returns the op names. */
async function check(build: (x: Sym) => Sym, inShape: number[], opts: LowerOptions = {}): Promise<string[]> {
  const input = tf.input({ shape: inShape });
  const model = tf.model({ inputs: input, outputs: build(input) });
  randomizeBn(model);
  const bytes = writeTflite(lowerModel(model, opts));
  const rt = await loadTfliteModel(bytes);
  try {
    for (let s = 0; s < 3; s++) {
      const x = tf.randomUniform([1, ...inShape], -2, 2, 'float32', s + 1);
      const ref = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
      const [got] = rt.infer([x.dataSync() as Float32Array]);
      assert.equal(got.length, ref.length);
      let maxDiff = 0;
      let lo = Infinity;
      let hi = -Infinity;
      ref.forEach((r, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(r - got[i]));
        lo = Math.min(lo, r);
        hi = Math.max(hi, r);
      });
      assert.ok(maxDiff <= 1e-3 * Math.max(hi - lo, 1e-3), `max diff ${maxDiff} vs range ${hi - lo}`);
    }
  } finally {
    rt.dispose();
  }
  return readTflite(bytes).ops.map((o) => o.op);
}

const conv = (o: Partial<tf.layers.Layer['getConfig']> & Record<string, unknown>) =>
  tf.layers.conv2d(o as never);

describe('lowering: one layer type at a time', () => {
  it('Conv2D + BatchNormalization folds into one CONV_2D (stride 2, same padding)', async () => {
    const ops = await check(
      (x) =>
        tf.layers
          .batchNormalization()
          .apply(
            conv({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(x),
          ) as Sym,
      [9, 9, 3],
    );
    assert.deepEqual(ops, ['CONV_2D']);
  });

  it('Conv2D with bias and fused relu6, and with swish (LOGISTIC + MUL)', async () => {
    assert.deepEqual(
      await check((x) => conv({ filters: 4, kernelSize: 1, activation: 'relu6' }).apply(x) as Sym, [4, 4, 6]),
      ['CONV_2D'],
    );
    assert.deepEqual(
      await check((x) => conv({ filters: 4, kernelSize: 1, activation: 'swish' }).apply(x) as Sym, [4, 4, 6]),
      ['CONV_2D', 'LOGISTIC', 'MUL'],
    );
  });

  it('DepthwiseConv2D + BatchNormalization folds into DEPTHWISE_CONV_2D (also depth multiplier 2)', async () => {
    const dw = (m: number, s: number) => (x: Sym) =>
      tf.layers.batchNormalization().apply(
        tf.layers
          .depthwiseConv2d({
            kernelSize: 5,
            strides: s,
            depthMultiplier: m,
            padding: 'same',
            useBias: false,
          })
          .apply(x),
      ) as Sym;
    assert.deepEqual(await check(dw(1, 1), [8, 8, 6]), ['DEPTHWISE_CONV_2D']);
    assert.deepEqual(await check(dw(2, 2), [7, 7, 3]), ['DEPTHWISE_CONV_2D']);
  });

  it('Activation swish / relu6 / sigmoid / softmax and a standalone BatchNormalization', async () => {
    const act = (a: string) => (x: Sym) => tf.layers.activation({ activation: a as never }).apply(x) as Sym;
    assert.deepEqual(await check(act('swish'), [3, 3, 4]), ['LOGISTIC', 'MUL']);
    assert.deepEqual(await check(act('relu6'), [3, 3, 4]), ['RELU6']);
    // conv -> BN (folded) -> relu6 becomes one CONV_2D with a fused RELU6 (MobileNetV2's pattern).
    const convBnRelu6 = (x: Sym) =>
      act('relu6')(
        tf.layers
          .batchNormalization()
          .apply(conv({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(x)) as Sym,
      );
    assert.deepEqual(await check(convBnRelu6, [5, 5, 3]), ['CONV_2D']);
    assert.deepEqual(await check(act('sigmoid'), [3, 3, 4]), ['LOGISTIC']);
    assert.deepEqual(await check(act('softmax'), [10]), ['SOFTMAX']);
    assert.deepEqual(await check((x) => tf.layers.batchNormalization().apply(x) as Sym, [3, 3, 4]), [
      'MUL',
      'ADD',
    ]);
  });

  it('squeeze-and-excitation: MEAN (keep_dims: the Reshape folds in), 1x1 convs, LOGISTIC, MUL', async () => {
    const ops = await check(
      (x) => {
        let s = tf.layers.globalAveragePooling2d({}).apply(x) as Sym;
        s = tf.layers.reshape({ targetShape: [1, 1, 8] }).apply(s) as Sym;
        s = conv({ filters: 2, kernelSize: 1, activation: 'swish' }).apply(s) as Sym;
        s = conv({ filters: 8, kernelSize: 1, activation: 'sigmoid' }).apply(s) as Sym;
        return tf.layers.multiply().apply([x, s]) as Sym;
      },
      [5, 5, 8],
    );
    // No RESHAPE: it would run outside XNNPACK in int8 and split the delegated graph.
    assert.deepEqual(ops, ['MEAN', 'CONV_2D', 'LOGISTIC', 'MUL', 'CONV_2D', 'LOGISTIC', 'MUL']);
  });

  it('Add, GlobalAveragePooling2D, Dropout / DropConnect (identity), Dense (+ softmax, + optional SOFTMAX)', async () => {
    const head = (x: Sym) => {
      const y = new DropConnect({ rate: 0.3 }).apply(
        conv({ filters: 6, kernelSize: 3, padding: 'same' }).apply(x) as Sym,
      ) as Sym;
      let z = tf.layers.add().apply([x, y]) as Sym;
      z = tf.layers.globalAveragePooling2d({}).apply(z) as Sym;
      z = tf.layers.dropout({ rate: 0.5 }).apply(z) as Sym;
      return tf.layers.dense({ units: 5 }).apply(z) as Sym;
    };
    assert.deepEqual(await check(head, [4, 4, 6]), ['CONV_2D', 'ADD', 'MEAN', 'FULLY_CONNECTED']);
    // softmax: true appends SOFTMAX after the logits (its numbers are checked with the Dense below).
    const input = tf.input({ shape: [4, 4, 6] });
    const g = lowerModel(tf.model({ inputs: input, outputs: head(input) }), { softmax: true });
    assert.equal(g.ops.at(-1)?.op, 'SOFTMAX');
    assert.equal(g.outputs[0], g.ops.at(-1)?.outputs[0]);
    assert.deepEqual(
      await check((x) => tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as Sym, [7]),
      ['FULLY_CONNECTED', 'SOFTMAX'],
    );
  });

  for (const order of ['interleave', 'tile'] as const) {
    for (const duplicate of ['gather', 'tile', 'concat'] as const) {
      it(`ChannelDuplicate (${order}) as ${duplicate}`, async () => {
        const ops = await check((x) => new ChannelDuplicate({ t: 3, order }).apply(x) as Sym, [3, 3, 4], {
          duplicate,
        });
        assert.ok(
          ops.includes(duplicate === 'concat' ? 'CONCATENATION' : duplicate.toUpperCase()),
          ops.join(),
        );
      });
    }
    const maxpoolOp = { slice_max: order === 'tile' ? 'SLICE' : 'STRIDED_SLICE' } as Record<string, string>;
    for (const maxpool of ['reduce_max', 'maximum', 'max_pool_2d', 'slice_max'] as const) {
      it(`ChannelMaxPool (${order}) as ${maxpool}`, async () => {
        const ops = await check((x) => new ChannelMaxPool({ t: 3, order }).apply(x) as Sym, [3, 3, 12], {
          maxpool,
        });
        assert.ok(ops.includes(maxpoolOp[maxpool] ?? maxpool.toUpperCase()), ops.join());
      });
    }
    it(`ChannelDuplicate -> per-copy depthwise -> ChannelMaxPool (${order}) matches tfjs`, async () => {
      const ops = await check(
        (x) => {
          const d = new ChannelDuplicate({ t: 4, order }).apply(x) as Sym;
          const y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(d) as Sym;
          return new ChannelMaxPool({ t: 4, order }).apply(y) as Sym;
        },
        [5, 5, 3],
      );
      // Both orders: relaid out in the tile order (relayout.ts), ops XNNPACK delegates.
      assert.deepEqual(ops, ['CONCATENATION', 'DEPTHWISE_CONV_2D', 'RESHAPE', 'MAX_POOL_2D'], ops.join());
    });
    it(`... (${order}) with relayout: false keeps the ${order} order and still matches`, async () => {
      const ops = await check(
        (x) => {
          const d = new ChannelDuplicate({ t: 4, order }).apply(x) as Sym;
          const y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(d) as Sym;
          return new ChannelMaxPool({ t: 4, order }).apply(y) as Sym;
        },
        [5, 5, 3],
        { relayout: false },
      );
      // Interleave: the duplicate folds into the depthwise conv's depth_multiplier (no GATHER).
      assert.equal(ops.includes('GATHER'), order === 'tile', ops.join());
    });
  }

  it('ChannelDuplicate(t) -> DepthwiseConv2D (stride 2, multiplier 2) + BN folds to one DEPTHWISE_CONV_2D', async () => {
    const build = (x: Sym) => {
      const d = new ChannelDuplicate({ t: 3 }).apply(x) as Sym;
      const y = tf.layers
        .depthwiseConv2d({ kernelSize: 3, strides: 2, depthMultiplier: 2, padding: 'same', useBias: false })
        .apply(d) as Sym;
      return tf.layers.batchNormalization().apply(y) as Sym;
    };
    assert.deepEqual(await check(build, [6, 6, 4]), ['DEPTHWISE_CONV_2D']);
    const input = tf.input({ shape: [6, 6, 4] });
    const g = lowerModel(tf.model({ inputs: input, outputs: build(input) }));
    assert.equal(g.ops[0].options?.values.depth_multiplier, 6);
    assert.deepEqual(g.tensors[g.ops[0].inputs[1]].shape, [1, 3, 3, 24]);
    // Opting out keeps the GATHER.
    assert.deepEqual(await check(build, [6, 6, 4], { fuseDuplicate: false }), [
      'GATHER',
      'DEPTHWISE_CONV_2D',
    ]);
  });

  it('a layer with no mapping is a ModelError naming the layer', async () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const out = tf.layers.maxPooling2d({ poolSize: 2, name: 'my_pool' }).apply(input) as Sym;
    const model = tf.model({ inputs: input, outputs: out });
    assert.throws(
      () => lowerModel(model),
      (e: unknown) => e instanceof ModelError && e.field === 'layer my_pool' && e.received === 'MaxPooling2D',
    );
    assert.throws(
      () => lowerModel(model, { duplicate: 'nope' as never }),
      (e: unknown) => e instanceof Error && /duplicate/.test((e as ModelError).field),
    );
  });
});

describe('quantization helpers', () => {
  it('toHalf rounds to nearest even, saturates and keeps subnormals', () => {
    assert.equal(toHalf(1), 0x3c00);
    assert.equal(toHalf(-2), 0xc000);
    assert.equal(toHalf(65504), 0x7bff);
    assert.equal(toHalf(1e6), 0x7c00);
    assert.equal(toHalf(1e-7), 2);
    assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'tie rounds to even');
    assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
  });

  it('int8Params covers the range with 0 exactly representable; quantizeSymmetric is per channel', () => {
    assert.deepEqual(int8Params(0, 1), { scale: 1 / 255, zeroPoint: -128 });
    const p = int8Params(-1, 3);
    assert.ok(Math.abs(p.scale - 4 / 255) < 1e-12);
    assert.equal(p.zeroPoint, Math.round(-128 + 1 / p.scale));
    const { q, scale } = quantizeSymmetric(Float32Array.from([1, -0.5, 4, 2]), [2, 2], 0);
    assert.deepEqual(scale, [1 / 127, 4 / 127]);
    assert.deepEqual(Array.from(q), [127, -64, 127, 64]);
  });
});

describe('int8 rules', () => {
  it('clips a tensor read only by LOGISTIC to +-6.25, so a wide SE gate keeps its resolution', async () => {
    const input = tf.input({ shape: [1, 1, 8] });
    const gate = tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'sigmoid' });
    const model = tf.model({ inputs: input, outputs: gate.apply(input) as Sym });
    // Large weights: pre-sigmoid values reach the tens, like under-trained SE gates.
    gate.setWeights([tf.mul(tf.randomNormal([1, 1, 8, 8], 0, 1, 'float32', 4), 20), tf.zeros([8])]);
    const g = lowerModel(model);
    // Inputs on the int8 grid of [0, 1] (k/255), so input quantization adds no error.
    const x = tf.div(tf.floor(tf.randomUniform([64, 1, 1, 8], 0, 256, 'float32', 5)), 255);
    const ranges = await calibrate(g, x);
    const pre = g.ops[0].outputs[0];
    const r = ranges.get(pre) as { min: number; max: number };
    assert.ok(r.max - r.min > 40, `wide pre-sigmoid range ${r.min}..${r.max}`);
    const q = quantizeGraph(g, 'int8', { ranges });
    const scale = q.tensors[pre].quant?.scale[0] as number;
    assert.ok(scale <= 12.5 / 255 + 1e-9, `pre-sigmoid scale ${scale}`);
    // The same model with the raw range on that tensor, for comparison.
    const raw = int8Params(r.min, r.max);
    const unclipped = {
      ...q,
      tensors: q.tensors.map((t, i) =>
        i === pre ? { ...t, quant: { scale: [raw.scale], zeroPoint: [raw.zeroPoint] } } : t,
      ),
    };
    const rf = await loadTfliteModel(writeTflite(g));
    const rq = await loadTfliteModel(writeTflite(q));
    const ru = await loadTfliteModel(writeTflite(unclipped));
    const all = x.dataSync() as Float32Array;
    let errClipped = 0;
    let errRaw = 0;
    for (let i = 0; i < 64; i++) {
      const xi = all.slice(i * 8, (i + 1) * 8);
      const a = rf.infer([xi])[0];
      const b = rq.infer([xi])[0];
      const c = ru.infer([xi])[0];
      a.forEach((v, k) => {
        errClipped += Math.abs(v - b[k]) / a.length / 64;
        errRaw += Math.abs(v - c[k]) / a.length / 64;
      });
    }
    for (const m of [rf, rq, ru]) m.dispose();
    assert.ok(errClipped < errRaw, `mean sigmoid error clipped ${errClipped} vs raw ${errRaw}`);
    assert.ok(errClipped < 0.02, `mean sigmoid error ${errClipped}`);
  });
  it('gives a swish input the range that minimises the error after the swish (swishRanges)', async () => {
    const input = tf.input({ shape: [4, 4, 8] });
    const conv = tf.layers.conv2d({ filters: 16, kernelSize: 1, activation: 'swish' });
    const model = tf.model({ inputs: input, outputs: conv.apply(input) as Sym });
    // Symmetric pre-activations reaching about +-12: swish maps the whole negative half into [-0.28, 0].
    conv.setWeights([tf.mul(tf.randomNormal([1, 1, 8, 16], 0, 1, 'float32', 7), 3), tf.zeros([16])]);
    const g = lowerModel(model);
    const pre = g.ops[0].outputs[0];
    assert.deepEqual([...swishInputs(g)], [pre]);
    const x = tf.div(tf.floor(tf.randomUniform([64, 4, 4, 8], 0, 256, 'float32', 8)), 255);
    const plain = await calibrate(g, x);
    const aware = await calibrate(g, x, { swishRanges: true });
    const rp = plain.get(pre) as { min: number; max: number };
    const ra = aware.get(pre) as { min: number; max: number };
    assert.ok(rp.min < -6 && rp.max > 6, `plain range ${rp.min}..${rp.max}`);
    // The negative tail is clipped much harder than the positive one.
    assert.ok(ra.min > rp.min / 2, `swish-aware min ${ra.min} vs ${rp.min}`);
    assert.ok(ra.max > rp.max * 0.7, `swish-aware max ${ra.max} vs ${rp.max}`);
    const out = g.outputs[0];
    assert.deepEqual(aware.get(out), plain.get(out), 'other tensors unchanged');
    // Through the runtime: the int8 swish output is closer to float.
    const rf = await loadTfliteModel(writeTflite(g));
    const ra8 = await loadTfliteModel(writeTflite(quantizeGraph(g, 'int8', { ranges: aware })));
    const rp8 = await loadTfliteModel(writeTflite(quantizeGraph(g, 'int8', { ranges: plain })));
    const all = x.dataSync() as Float32Array;
    let errAware = 0;
    let errPlain = 0;
    for (let i = 0; i < 64; i++) {
      const xi = all.slice(i * 128, (i + 1) * 128);
      const f = rf.infer([xi])[0];
      const a = ra8.infer([xi])[0];
      const p = rp8.infer([xi])[0];
      f.forEach((v, k) => {
        errAware += (v - a[k]) ** 2;
        errPlain += (v - p[k]) ** 2;
      });
    }
    for (const m of [rf, ra8, rp8]) m.dispose();
    assert.ok(errAware < 0.8 * errPlain, `squared error swish-aware ${errAware} vs plain ${errPlain}`);
  });
});
