/**
 * Every zoo variant (small width/depth, random weights and BatchNorm statistics) converted to fp32
 * and run in the real TFLite runtime: max abs logit difference <= 1e-3 of the logit range, top-1
 * agreement 100%. fp16 and dynamic: smaller files (about 1/2 and 1/4 of the weights) that agree.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { convertModel } from '../converter/convert.js';
import { readTflite } from '../converter/tflite/reader.js';
import { createModel } from '../sdk/models/registry.js';
import { VARIANTS, type Variant } from '../sdk/models/archs.js';

before(async () => {
  await tf.setBackend('cpu');
});

function randomModel(
  model: string,
  variant: Variant,
  channelOrder: 'interleave' | 'tile' = 'interleave',
): tf.LayersModel {
  const m = createModel({
    model,
    variant,
    classes: 10,
    inputSize: 32,
    widthMult: 0.25,
    depthMult: 0.34,
    channelOrder,
  });
  let seed = 11;
  for (const l of m.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    l.setWeights(
      l
        .getWeights()
        .map((w, i) =>
          i === 3
            ? tf.randomUniform(w.shape, 0.5, 1.5, 'float32', seed++)
            : tf.randomUniform(w.shape, -0.5, 0.5, 'float32', seed++),
        ),
    );
  }
  return m;
}

const samples = () => ({ x: tf.randomUniform([12, 32, 32, 3], 0, 1, 'float32', 5) });

describe('every zoo variant converts to fp32 within tolerance', () => {
  const cases: [string, Variant, 'interleave' | 'tile'][] = [];
  for (const v of Object.keys(VARIANTS) as Variant[]) cases.push(['efficientnet-b0', v, 'interleave']);
  cases.push(['efficientnet-b0', 'dmp', 'tile']);
  for (const v of Object.keys(VARIANTS) as Variant[]) cases.push(['mobilenetv2', v, 'interleave']);
  for (const [model, variant, order] of cases) {
    it(`${model} ${variant} (${order})`, async () => {
      const m = randomModel(model, variant, order);
      const { tflite, report } = await convertModel(m, { quantize: 'fp32', eval: samples() });
      assert.ok(report.relDiff <= 1e-3, `relDiff ${report.relDiff}`);
      assert.equal(report.top1Agreement, 1);
      assert.equal(report.samples, 12);
      assert.equal(report.passed, true);
      const ops = new Set(readTflite(tflite).ops.map((o) => o.op));
      const dmpOps = variant === 'dmp' || variant === 'duplicate';
      assert.equal(ops.has('GATHER'), dmpOps, 'duplicate lowers to GATHER');
      assert.equal(
        ops.has('REDUCE_MAX'),
        variant === 'dmp' || variant === 'maxpool',
        'max-pool lowers to REDUCE_MAX',
      );
      // Constant bytes ~ 4 bytes per inference parameter (BN folded away).
      const params = m.countParams();
      assert.ok(
        tflite.length > 3 * params && tflite.length < 5 * params,
        `${tflite.length} bytes for ${params} params`,
      );
    });
  }
});

describe('fp16 and dynamic', () => {
  for (const variant of ['baseline', 'dmp'] as Variant[]) {
    it(`efficientnet-b0 ${variant}: smaller and in agreement`, async () => {
      const m = randomModel('efficientnet-b0', variant);
      const x = samples();
      const fp32 = await convertModel(m, { quantize: 'fp32', eval: x });
      const fp16 = await convertModel(m, { quantize: 'fp16', eval: x });
      const dyn = await convertModel(m, { quantize: 'dynamic', eval: x });
      const r16 = fp16.tflite.length / fp32.tflite.length;
      const r8 = dyn.tflite.length / fp32.tflite.length;
      assert.ok(r16 > 0.45 && r16 < 0.6, `fp16/fp32 = ${r16}`);
      assert.ok(r8 > 0.22 && r8 < 0.45, `dynamic/fp32 = ${r8}`);
      assert.ok(fp16.report.relDiff < 2e-3, `fp16 relDiff ${fp16.report.relDiff}`);
      assert.ok(dyn.report.relDiff < 2e-2, `dynamic relDiff ${dyn.report.relDiff}`);
      assert.ok(fp16.report.top1Agreement >= 11 / 12);
      assert.ok(dyn.report.top1Agreement >= 10 / 12);
      const ops16 = readTflite(fp16.tflite);
      assert.ok(ops16.tensors.some((t) => t.type === 'FLOAT16'));
      assert.ok(ops16.ops.some((o) => o.op === 'DEQUANTIZE'));
      const opsDyn = readTflite(dyn.tflite);
      const w = opsDyn.tensors.find((t) => t.type === 'INT8' && t.shape.length === 4);
      assert.ok(w?.quant && w.quant.scale.length === w.shape[0], 'per-channel int8 weights');
      assert.ok(w.quant.zeroPoint.every((z) => z === 0));
    });
  }
});
