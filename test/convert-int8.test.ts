/**
 * Full-integer int8 on small trained models (EfficientNet-B0 baseline and DMP, width 0.25, depth
 * 0.34, Fashion-MNIST 28x28; test/fixtures/int8, made by scripts/make-int8-fixtures.ts), through
 * the real TFLite runtime: top-1 agreement with the float model >= 97.5% (B0 and DMP) and >= 99% where
 * the float model is decided (top-1 >= 0.5 logit above top-2), accuracy drop <= 1 point,
 * per-channel int8 weights with zero point 0, int32 biases with scale s_in * s_w[c], float / int8 /
 * uint8 input and output, and the max-drop gate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  convertModel,
  INT8_MIN_DECIDED_AGREEMENT,
  passes,
  VerificationError,
  type Samples,
} from '../converter/convert.js';
import { readTflite } from '../core/tflite/reader.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { loadModel } from '../sdk/models/io.js';
import { ConfigError } from '../core/errors.js';
import { selectBackend } from '../sdk/backend.js';
import { registerFastKernels } from '../sdk/kernels/index.js';

let evalSet: Samples;
let calib: Samples;
const models: Record<string, tf.LayersModel> = {};
/** Test images compared: enough that one flipped image is 0.1 point (bench:convert-int8 uses 2000). */
const EVAL = 1000;
/**
 * Top-1 agreement with the float model, default calibration: measured 98.45% (B0) and 98.30% (DMP)
 * on 2000 test images (`npm run bench:convert-int8`); the 99% aimed for is not reached (docs/converter.md).
 */
const MIN_AGREEMENT: Record<string, number> = { baseline: 0.975, dmp: 0.975 };

before(async () => {
  // wasm: the float model's predictions on 1000 images are the slow part on the cpu backend.
  await selectBackend('wasm');
  registerFastKernels(); // QAT trains through the conv gradients
  const data = await loadData('fashion-mnist');
  const pp = defaultPreprocess([28, 28], 1);
  const ev = await sampleInputs(data.val, pp, EVAL, 1);
  const cb = await sampleInputs(data.train, pp, 200, 2);
  evalSet = { x: tf.tensor4d(ev.x, [ev.size, 28, 28, 1]), labels: ev.y };
  calib = { x: tf.tensor4d(cb.x, [cb.size, 28, 28, 1]) };
  for (const v of ['baseline', 'dmp']) models[v] = await loadModel(`test/fixtures/int8/${v}`);
});
after(() => {
  evalSet.x.dispose();
  calib.x.dispose();
});

describe('int8 full integer', () => {
  for (const variant of ['baseline', 'dmp']) {
    it(`${variant}: top-1 agreement >= ${MIN_AGREEMENT[variant] * 100}%, <= 1 point accuracy drop, 2-5x smaller`, async () => {
      const m = models[variant];
      const fp32 = await convertModel(m, { quantize: 'fp32', eval: evalSet });
      const { tflite, report } = await convertModel(m, {
        quantize: 'int8',
        calib,
        eval: evalSet,
        labels: [...'0123456789'],
      });
      // EfficientNet's swish + SE loses precision in int8 (docs/converter.md): about 98.3-98.5% here.
      assert.ok(report.top1Agreement >= MIN_AGREEMENT[variant], `agreement ${report.top1Agreement}`);
      // What int8 flips are near-ties: where the float top-1 leads by >= 0.5 logit, >= 99% agree
      // (99.98% on 10,000 images, npm run bench:int8-floor), and the flips' median float margin is
      // below that.
      assert.ok(report.decidedAgreement >= 0.99, `decided agreement ${report.decidedAgreement}`);
      assert.equal(report.flips.count, Math.round((1 - report.top1Agreement) * EVAL));
      if (report.flips.count) assert.ok(report.flips.medianFloatMargin < report.decidedMargin);
      assert.ok(report.flips.maxFloatMargin >= report.flips.medianFloatMargin);
      assert.equal(fp32.report.flips.count, 0);
      assert.equal(fp32.report.decidedAgreement, 1);
      assert.ok(report.accuracy && report.accuracy.float > 75, `float accuracy ${report.accuracy?.float}`);
      assert.ok(report.accuracy.drop <= 1, `drop ${report.accuracy.drop}`);
      assert.equal(report.passed, true);
      assert.equal(report.perClass?.length, 10);
      assert.equal(
        report.perClass?.reduce((a, c) => a + c.n, 0),
        EVAL,
      );
      const ratio = tflite.length / fp32.tflite.length;
      assert.ok(ratio > 0.2 && ratio < 0.5, `int8/fp32 ${ratio}`);

      const g = readTflite(tflite);
      assert.equal(g.ops[0].op, 'QUANTIZE');
      assert.equal(g.ops.at(-1)?.op, 'DEQUANTIZE');
      for (const op of g.ops.filter((o) => o.op === 'CONV_2D' || o.op === 'DEPTHWISE_CONV_2D')) {
        const [x, w, b] = op.inputs.map((i) => g.tensors[i]);
        assert.equal(w.type, 'INT8');
        const axis = op.op === 'CONV_2D' ? 0 : 3;
        assert.equal(w.quant?.dimension, axis);
        assert.equal(w.quant?.scale.length, w.shape[axis], 'one scale per output channel');
        assert.ok(w.quant?.zeroPoint.every((z) => z === 0));
        assert.equal(b.type, 'INT32');
        b.quant?.scale.forEach((s, c) => {
          const want = (x.quant?.scale[0] as number) * (w.quant?.scale[c] as number);
          assert.ok(Math.abs(s - want) <= 1e-6 * want, `bias scale ${s} vs ${want}`);
        });
      }
      // Every activation is int8 except the float input and output.
      const floats = g.tensors.filter((t) => t.type === 'FLOAT32');
      assert.equal(floats.length, 2);
    });
  }

  it('the int8 gate: accuracy drop <= maxDrop and >= 99% decided agreement; overall agreement only reported', () => {
    assert.equal(INT8_MIN_DECIDED_AGREEMENT, 0.99);
    const card = (drop: number, decided: number) => ({
      quantize: 'int8' as const,
      relDiff: 0.2,
      decidedAgreement: decided,
      accuracy: { drop },
    });
    assert.equal(passes(card(0.4, 0.995), 1), true);
    assert.equal(passes(card(0.4, 0.985), 1), false, 'decided agreement below 99%');
    assert.equal(passes(card(1.2, 1), 1), false, 'drop above maxDrop');
    assert.equal(passes(card(1.2, 1), 2), true);
    // fp16 / dynamic: the drop only; fp32: the logit tolerance only.
    assert.equal(passes({ ...card(0.4, 0.9), quantize: 'dynamic' }, 1), true);
    assert.equal(passes({ ...card(0, 1), quantize: 'fp32', relDiff: 2e-3 }, 1), false);
  });

  it('uint8 input and int8 output carry their quantization and still agree', async () => {
    const { tflite, report } = await convertModel(models.dmp, {
      quantize: 'int8',
      calib,
      eval: evalSet,
      inputType: 'uint8',
      outputType: 'int8',
    });
    assert.ok(report.top1Agreement >= 0.97, `agreement ${report.top1Agreement}`);
    assert.equal(report.inputType, 'uint8');
    assert.equal(report.outputType, 'int8');
    const rt = await loadTfliteModel(tflite);
    const q = rt.inputs[0].quantization;
    // Inputs are pixel/255 in [0, 1]: uint8 scale 1/255, zero point 0 maps raw pixels exactly.
    assert.ok(q && Math.abs(q.scale - 1 / 255) < 1e-9 && q.zeroPoint === 0, JSON.stringify(q));
    assert.equal(rt.outputs[0].dtype, 'int8');
    assert.ok(rt.outputs[0].quantization);
    rt.dispose();
  });

  it('qat: fine-tunes before writing and still verifies against the original model', async () => {
    const plain = await convertModel(models.dmp, { quantize: 'int8', calib, eval: evalSet });
    const { report } = await convertModel(models.dmp, {
      quantize: 'int8',
      calib,
      eval: evalSet,
      qat: { steps: 30, lr: 1e-4 },
    });
    assert.equal(report.qat?.steps, 30);
    assert.equal(report.qat?.samples, 200, 'default: the calibration samples');
    assert.ok(
      report.qat.lossAfter < report.qat.lossBefore,
      `loss ${report.qat.lossBefore} -> ${report.qat.lossAfter}`,
    );
    // The float side is the untouched model: same float accuracy as without QAT.
    assert.equal(report.accuracy?.float, plain.report.accuracy?.float);
    assert.notEqual(report.maxAbsDiff, plain.report.maxAbsDiff, 'the int8 file changed');
    assert.ok(report.top1Agreement >= MIN_AGREEMENT.dmp, `agreement ${report.top1Agreement}`);
    assert.equal(plain.report.qat, undefined);
    await assert.rejects(
      convertModel(models.dmp, { quantize: 'fp16', qat: { steps: 5 } }),
      (e: unknown) => e instanceof ConfigError && e.field === 'qat',
    );
  });

  it('fails with a VerificationError when accuracy drops more than maxDrop, unless force', async () => {
    // The DMP fixture loses a little accuracy in int8 on these images (0.1-0.3 points): over a maxDrop of 0.
    await assert.rejects(
      convertModel(models.dmp, { quantize: 'int8', calib, eval: evalSet, maxDrop: 0 }),
      (e: unknown) => {
        assert.ok(e instanceof VerificationError);
        assert.equal(e.code, 'E_VERIFY');
        assert.equal(e.field, '--max-drop');
        assert.ok((e.report.accuracy?.drop ?? 0) > 0);
        assert.equal(e.report.passed, false);
        return true;
      },
    );
    const forced = await convertModel(models.dmp, {
      quantize: 'int8',
      calib,
      eval: evalSet,
      maxDrop: 0,
      force: true,
    });
    assert.equal(forced.report.passed, false);
    await assert.rejects(convertModel(models.dmp, { quantize: 'int8', eval: evalSet }), ConfigError);
    await assert.rejects(convertModel(models.dmp, { quantize: 'fp8' as never }), ConfigError);
    await assert.rejects(convertModel(models.dmp, { quantize: 'fp16', inputType: 'int8' }), ConfigError);
  });
});
