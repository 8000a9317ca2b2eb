/**
 * int8 quality on trained models: top-1 agreement with the float model, logit SQNR, accuracy of both
 * and size, for each calibration method. Default models: the test fixtures (test/fixtures/int8,
 * scripts/make-int8-fixtures.ts); `--models <dir>` takes `<dir>/<variant>/best` of `edge-dmp train`
 * runs instead (28x28x1 Fashion-MNIST models, inputs pixel / 255).
 *
 *   npm run bench:convert-int8      (or: nice node --conditions=edge-dmp-source --import tsx bench/convert-int8.ts [--eval 2000] [--calib 200] [--models runs/x] [--json])
 */
import * as tf from '@tensorflow/tfjs';
import { convertModel, runTflite, type CalibrationMethod } from '../converter/convert.js';
import { lowerModel } from '../converter/lower.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { loadModel } from '../sdk/models/io.js';
import { compareLogits, fashionSets, trainedModelDir } from './int8-common.js';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const EVAL = Number(flag('--eval', '2000'));
const CALIB = Number(flag('--calib', '200'));
const MODELS = flag('--models', '');

await tf.setBackend('cpu');
const { evalSet, calib } = await fashionSets(EVAL, CALIB);

const CASES: { name: string; calibration: CalibrationMethod; swishRanges: boolean }[] = [
  { name: 'minmax', calibration: 'minmax', swishRanges: false },
  { name: 'percentile (default)', calibration: 'percentile', swishRanges: false },
  { name: 'percentile + swish ranges', calibration: 'percentile', swishRanges: true },
  { name: 'mse', calibration: 'mse', swishRanges: false },
  { name: 'average', calibration: 'average', swishRanges: false },
];

const rows: Record<string, unknown>[] = [];
for (const variant of ['baseline', 'dmp']) {
  const model = await loadModel(trainedModelDir(MODELS, variant));
  // Float reference logits from the fp32 .tflite (within 1e-6 of tfjs, and fast).
  const fp32 = await convertModel(model, { quantize: 'fp32', eval: evalSet });
  const frt = await loadTfliteModel(writeTflite(lowerModel(model)));
  const ref = runTflite(frt, evalSet.x);
  frt.dispose();
  for (const c of CASES) {
    const { tflite, report } = await convertModel(model, {
      quantize: 'int8',
      calib,
      eval: evalSet,
      calibration: c.calibration,
      swishRanges: c.swishRanges,
      force: true,
    });
    const rt = await loadTfliteModel(tflite);
    const out = runTflite(rt, evalSet.x);
    rt.dispose();
    rows.push({
      variant,
      calibration: c.name,
      fp32Bytes: fp32.tflite.length,
      int8Bytes: report.sizeBytes,
      agreement: report.top1Agreement,
      sqnrDb: compareLogits(ref, out).sqnr,
      floatAcc: report.accuracy?.float,
      int8Acc: report.accuracy?.converted,
      drop: report.accuracy?.drop,
    });
  }
}
if (args.includes('--json')) console.log(JSON.stringify(rows));
else {
  console.log(
    `Fashion-MNIST, models ${MODELS || 'test/fixtures/int8'}, ${EVAL} test images, ${CALIB} calibration images`,
  );
  console.log(
    '| variant | calibration | fp32 bytes | int8 bytes | top-1 agreement | logit SQNR (dB) | float acc | int8 acc | drop (points) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const p = (v: unknown, d = 2) => (typeof v === 'number' ? v.toFixed(d) : String(v));
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.calibration} | ${r.fp32Bytes} | ${r.int8Bytes} | ${p(100 * (r.agreement as number))}% | ${p(r.sqnrDb, 1)} | ${p(r.floatAcc)}% | ${p(r.int8Acc)}% | ${p(r.drop)} |`,
    );
  }
}
