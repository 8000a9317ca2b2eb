/**
 * Where full-int8 top-1 agreement stops, and why (docs/converter.md "The int8 agreement floor").
 * Per model, on Fashion-MNIST test images, against the float graph's logits:
 * - `TFLite int8`: the converter's default int8 file, run in the TFLite runtime; `decided` is the
 *   agreement on samples whose float top-1 leads by >= DECIDED_MARGIN, `flip margin` the median
 *   float top-1 - top-2 margin of the flipped samples;
 * - `sim vs TFLite`: the same quantized model simulated in tfjs (converter/qat.ts: the same grids,
 *   float arithmetic between them) against the TFLite file: two int8 implementations that differ by
 *   a rounding step here and there;
 * - `per-channel acts`: the simulation with every activation on its own grid per channel, which no
 *   int8 kernel offers: the most channel equalization could give;
 * - `QAT`: the weights tuned by quantization-aware distillation (qatFinetune), converted with the
 *   same ranges and run in the TFLite runtime.
 *
 *   npm run bench:int8-floor   (or: nice node --conditions=edge-dmp-source --import tsx bench/int8-floor.ts [--eval 10000] [--models runs/x] [--qat-steps 400] [--json])
 */
import * as tf from '@tensorflow/tfjs';
import { calibrate, compareTop1, DECIDED_MARGIN, runTflite } from '../converter/convert.js';
import { lowerModel } from '../converter/lower.js';
import { activationParams, quantizeGraph } from '../converter/quantize.js';
import { channelRanges, graphWeights, qatFinetune, QAT_DEFAULTS, runGraph } from '../converter/qat.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { selectBackend } from '../sdk/backend.js';
import { registerFastKernels } from '../sdk/kernels/index.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { loadModel } from '../sdk/models/io.js';
import { compareLogits, fashionSets, trainedModelDir } from './int8-common.js';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const EVAL = Number(flag('--eval', '10000'));
const MODELS = flag('--models', '');
const QAT_STEPS = Number(flag('--qat-steps', String(QAT_DEFAULTS.steps)));
const QAT_TRAIN = 6000;

// wasm + the project's gradient kernels: QAT trains through conv / depthwise gradients.
await selectBackend('wasm');
registerFastKernels();
const { evalSet, calib } = await fashionSets(EVAL, 200);
const tr = await sampleInputs(
  (await loadData('fashion-mnist')).train,
  defaultPreprocess([28, 28], 1),
  QAT_TRAIN,
  3,
);
const trainX = tf.tensor4d(tr.x, [tr.size, 28, 28, 1]);

/** Logits of the graph in tfjs over the eval set, 200 at a time. */
function simulate(run: (x: tf.Tensor) => tf.Tensor): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < EVAL; i += 200) {
    const y = tf.tidy(() => run(evalSet.x.slice(i, Math.min(200, EVAL - i))));
    const d = y.dataSync() as Float32Array;
    const k = y.shape[1] as number;
    for (let j = 0; j < y.shape[0]; j++) out.push(d.slice(j * k, (j + 1) * k));
    y.dispose();
  }
  return out;
}

async function inTflite(bytes: Uint8Array): Promise<Float32Array[]> {
  const rt = await loadTfliteModel(bytes);
  try {
    return runTflite(rt, evalSet.x);
  } finally {
    rt.dispose();
  }
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const rows: Record<string, unknown>[] = [];
for (const variant of ['baseline', 'dmp']) {
  const g = lowerModel(await loadModel(trainedModelDir(MODELS, variant)));
  const ref = await inTflite(writeTflite(g));
  const ranges = await calibrate(g, calib.x);
  const ptq = await inTflite(writeTflite(quantizeGraph(g, 'int8', { ranges })));
  const quant = activationParams(g, ranges);
  const weights = graphWeights(g);
  const sim = simulate((x) => runGraph(g, x, { weights, quant }));
  const pc = channelRanges(g, calib.x);
  const perChannel = simulate((x) => runGraph(g, x, { weights, quant, perChannel: pc }));
  pc.forEach((r) => tf.dispose([r.lo, r.hi]));
  weights.forEach((w) => w.dispose());
  const t0 = Date.now();
  const tuned = await qatFinetune(g, ranges, trainX, { steps: QAT_STEPS });
  const qatSecs = (Date.now() - t0) / 1000;
  const qat = await inTflite(writeTflite(quantizeGraph(tuned.graph, 'int8', { ranges })));
  const p = compareLogits(ref, ptq);
  const pt = compareTop1(ref, ptq);
  const simTfl = compareLogits(ptq, sim);
  const q = compareLogits(ref, qat);
  rows.push({
    variant,
    tfliteInt8: p.agreement,
    tfliteInt8Db: p.sqnr,
    decided: pt.decidedAgreement,
    flipMargin: pt.flips.medianFloatMargin,
    simVsTflite: simTfl.agreement,
    simVsTfliteDb: simTfl.sqnr,
    perChannelActs: compareLogits(ref, perChannel).agreement,
    qat: q.agreement,
    qatDb: q.sqnr,
    qatDecided: compareTop1(ref, qat).decidedAgreement,
    qatSecs,
  });
}

if (args.includes('--json')) console.log(JSON.stringify(rows, null, 2));
else {
  console.log(
    `Fashion-MNIST, models ${MODELS || 'test/fixtures/int8'}, ${EVAL} test images; agreement with the float model's top-1`,
  );
  console.log(
    '| variant | TFLite int8 | SQNR (dB) | decided | flip margin | sim vs TFLite | per-channel acts | QAT | QAT SQNR (dB) | QAT decided | QAT s |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const v = r as Record<string, number> & { variant: string };
    console.log(
      `| ${v.variant} | ${pct(v.tfliteInt8)} | ${v.tfliteInt8Db.toFixed(1)} | ${pct(v.decided)} | ${v.flipMargin.toFixed(3)} | ${pct(v.simVsTflite)} (${v.simVsTfliteDb.toFixed(1)} dB) | ${pct(v.perChannelActs)} | ${pct(v.qat)} | ${v.qatDb.toFixed(1)} | ${pct(v.qatDecided)} | ${v.qatSecs.toFixed(0)} |`,
    );
  }
  console.log(
    `decided: float top-1 >= ${DECIDED_MARGIN} logit above top-2; flip margin: median float margin of the flipped samples`,
  );
}
