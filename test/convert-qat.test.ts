/**
 * The int8 simulator and quantization-aware fine-tuning (converter/qat.ts): the lowered graph run
 * in tfjs matches the tfjs model for every op the lowering emits (all duplicate / max-pool
 * strategies, ReLU6, softmax); its int8 simulation matches the TFLite int8 kernels to one rounding
 * step at the first op and closely at the logits; fine-tuning lowers the distillation loss and the
 * tuned graph converts and runs in the TFLite runtime.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { calibrate, runTflite } from '../converter/convert.js';
import { lowerModel, type LowerOptions } from '../converter/lower.js';
import { activationParams, quantizeGraph } from '../converter/quantize.js';
import { channelRanges, graphWeights, qatFinetune, runGraph } from '../converter/qat.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { selectBackend } from '../sdk/backend.js';
import { registerFastKernels } from '../sdk/kernels/index.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { loadModel } from '../sdk/models/io.js';
import { createModel } from '../sdk/models/registry.js';
import { withSeededRandom } from '../core/random.js';
import { ConfigError, ModelError } from '../core/errors.js';

let x: tf.Tensor4D;
let fixture: tf.LayersModel;

before(async () => {
  await selectBackend('wasm');
  registerFastKernels();
  const data = await loadData('fashion-mnist');
  const s = await sampleInputs(data.val, defaultPreprocess([28, 28], 1), 256, 1);
  x = tf.tensor4d(s.x, [s.size, 28, 28, 1]);
  fixture = await loadModel('test/fixtures/int8/dmp');
});
after(() => x.dispose());

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('runGraph (float) matches the tfjs model', () => {
  const cases: [string, string, LowerOptions][] = [
    ['efficientnet-b0', 'baseline', {}],
    ['efficientnet-b0', 'dmp', {}],
    ['efficientnet-b0', 'dmp', { fuseDuplicate: false, duplicate: 'tile', maxpool: 'max_pool_2d' }],
    ['efficientnet-b0', 'dmp', { fuseDuplicate: false, duplicate: 'concat', maxpool: 'maximum' }],
    ['efficientnet-b0', 'dmp', { fuseDuplicate: false, duplicate: 'gather', softmax: true }],
    ['mobilenetv2', 'dmp', {}],
    ['efficientnet-lite0', 'dmp', {}],
  ];
  for (const [model, variant, lo] of cases) {
    it(`${model} ${variant} ${JSON.stringify(lo)}`, () => {
      const m = withSeededRandom(5, () =>
        createModel({
          model,
          variant: variant as 'dmp',
          classes: 10,
          inputSize: 28,
          inputChannels: 1,
          widthMult: 0.25,
          depthMult: 0.34,
        }),
      );
      const g = lowerModel(m, lo);
      const xb = x.slice(0, 8);
      const want = tf.tidy(() => {
        const y = m.predict(xb) as tf.Tensor;
        return lo.softmax ? tf.softmax(y) : y;
      });
      const got = runGraph(g, xb);
      const range = tf.tidy(() => tf.max(want).sub(tf.min(want)).dataSync()[0]);
      assert.deepEqual(got.shape, want.shape);
      assert.ok(maxAbsDiff(got, want) <= 1e-4 * Math.max(1, range), `diff ${maxAbsDiff(got, want)}`);
      tf.dispose([xb, want, got]);
      m.dispose();
    });
  }

  it('an op it cannot run is a ModelError naming the op', () => {
    const g = lowerModel(fixture);
    const bad = { ...g, ops: g.ops.map((o, i) => (i === 0 ? { ...o, op: 'SQUARE' as never } : o)) };
    assert.throws(
      () => runGraph(bad, x.slice(0, 1)),
      (e: unknown) => e instanceof ModelError && /SQUARE/.test(e.message),
    );
  });
});

describe('int8 simulation against the TFLite int8 kernels', () => {
  it('first op within one rounding step; logits close (trained DMP fixture)', async () => {
    const g = lowerModel(fixture);
    const ranges = await calibrate(g, x.slice(0, 100));
    const q = quantizeGraph(g, 'int8', { ranges });
    const quant = activationParams(g, ranges);
    const first = g.ops[0].outputs[0];
    // The int8 file with the first op's output exposed: int8 values on the grid the simulator uses.
    const rt = await loadTfliteModel(writeTflite({ ...q, outputs: [first, ...q.outputs] }));
    const p = q.tensors[first].quant as { scale: number[]; zeroPoint: number[] };
    assert.equal(p.scale[0], quant.params.get(first)?.scale);
    assert.equal(p.zeroPoint[0], quant.params.get(first)?.zeroPoint);
    const weights = graphWeights(g);
    let maxSteps = 0;
    for (let i = 0; i < 20; i++) {
      const xi = x.slice(i, 1);
      const [firstQ] = rt.infer([xi.dataSync() as Float32Array]);
      let traced: Float32Array | undefined;
      tf.dispose(
        runGraph(g, xi, {
          weights,
          quant,
          trace: (t, y) => {
            if (t === first) traced = y.dataSync() as Float32Array;
          },
        }),
      );
      (traced as Float32Array).forEach((v, k) => {
        maxSteps = Math.max(maxSteps, Math.abs((firstQ[k] - p.zeroPoint[0]) * p.scale[0] - v) / p.scale[0]);
      });
      xi.dispose();
    }
    rt.dispose();
    assert.ok(maxSteps <= 1 + 1e-3, `first op differs by ${maxSteps} steps`);

    // Logits of the whole simulated model against the int8 file on 256 images.
    const frt = await loadTfliteModel(writeTflite(q));
    const tfl = runTflite(frt, x);
    frt.dispose();
    const sim = tf.tidy(() => runGraph(g, x, { weights, quant }));
    const simA = sim.arraySync() as number[][];
    sim.dispose();
    let err = 0;
    let sig = 0;
    let agree = 0;
    tfl.forEach((r, i) => {
      r.forEach((v, k) => {
        err += (v - simA[i][k]) ** 2;
        sig += v * v;
      });
      if (r.indexOf(Math.max(...r)) === simA[i].indexOf(Math.max(...simA[i]))) agree++;
    });
    // Measured: 33 dB and 99% over 10,000 images (npm run bench:int8-floor).
    assert.ok(10 * Math.log10(sig / err) > 25, `SQNR ${10 * Math.log10(sig / err)} dB`);
    assert.ok(agree / tfl.length >= 0.96, `agreement ${agree / tfl.length}`);

    // Per-channel what-if: different numbers, same shapes, no NaN.
    const pc = channelRanges(g, x.slice(0, 32));
    const y = runGraph(g, x.slice(0, 4), { weights, quant, perChannel: pc });
    assert.deepEqual(y.shape, [4, 10]);
    assert.ok(!tf.tidy(() => tf.any(tf.isNaN(y)).dataSync()[0]));
    tf.dispose(y);
    pc.forEach((r) => tf.dispose([r.lo, r.hi]));
    weights.forEach((w) => w.dispose());
  });
});

describe('qatFinetune', () => {
  it('lowers the distillation loss; the tuned graph quantizes with the same ranges and runs', async () => {
    const g = lowerModel(fixture);
    const ranges = await calibrate(g, x.slice(0, 100));
    const seen: number[] = [];
    const r = await qatFinetune(g, ranges, x, {
      steps: 40,
      lr: 1e-4,
      every: 10,
      onProgress: (step) => seen.push(step),
    });
    assert.deepEqual(seen, [10, 20, 30, 40]);
    assert.ok(r.lossAfter < r.lossBefore, `loss ${r.lossBefore} -> ${r.lossAfter}`);
    // Only conv / depthwise / dense weights and biases change; the op list is the same.
    assert.equal(r.graph.ops, g.ops);
    let changed = 0;
    g.tensors.forEach((t, i) => {
      const u = r.graph.tensors[i];
      if (!t.data) return;
      if (Buffer.compare(Buffer.from(t.data), Buffer.from(u.data as Uint8Array)) !== 0) {
        changed++;
        assert.equal(t.type, 'FLOAT32', t.name);
        assert.ok(/weights|bias/.test(t.name), t.name);
      }
    });
    assert.ok(changed > 10, `changed ${changed}`);
    const rt = await loadTfliteModel(writeTflite(quantizeGraph(r.graph, 'int8', { ranges })));
    const out = runTflite(rt, x.slice(0, 8));
    rt.dispose();
    assert.equal(out.length, 8);
    assert.ok(out.every((o) => o.length === 10 && o.every(Number.isFinite)));
  });

  it('rejects bad options with a ConfigError naming the field', async () => {
    const g = lowerModel(fixture);
    const ranges = await calibrate(g, x.slice(0, 10));
    await assert.rejects(qatFinetune(g, ranges, x, { steps: 0 }), (e: unknown) => {
      return e instanceof ConfigError && e.field === 'qatSteps';
    });
    await assert.rejects(qatFinetune(g, ranges, x, { lr: -1 }), (e: unknown) => {
      return e instanceof ConfigError && e.field === 'qatLr';
    });
  });
});
