/**
 * int8 quality on the trained fixtures (test/fixtures/int8, scripts/make-int8-fixtures.ts): top-1
 * agreement with the float model, accuracy of both and size, for each calibration method.
 *
 *   npm run bench:convert-int8      (or: nice node --import tsx bench/convert-int8.ts [--eval 300] [--calib 200] [--json])
 */
import * as tf from '@tensorflow/tfjs';
import { convertModel, type CalibrationMethod } from '../converter/convert.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { defaultPreprocess } from '../sdk/preprocess.js';
import { loadModel } from '../sdk/models/io.js';

const args = process.argv.slice(2);
const flag = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const EVAL = flag('--eval', 300);
const CALIB = flag('--calib', 200);

await tf.setBackend('cpu');
const data = await loadData('fashion-mnist');
const pp = defaultPreprocess([28, 28], 1);
const ev = await sampleInputs(data.val, pp, EVAL, 1);
const cb = await sampleInputs(data.train, pp, CALIB, 2);
const evalSet = { x: tf.tensor4d(ev.x, [ev.size, 28, 28, 1]), labels: ev.y };
const calib = { x: tf.tensor4d(cb.x, [cb.size, 28, 28, 1]) };
const rows: Record<string, unknown>[] = [];
for (const variant of ['baseline', 'dmp']) {
  const model = await loadModel(`test/fixtures/int8/${variant}`);
  const fp32 = await convertModel(model, { quantize: 'fp32', eval: evalSet });
  for (const method of ['minmax', 'percentile', 'mse', 'average'] as CalibrationMethod[]) {
    const { report } = await convertModel(model, {
      quantize: 'int8',
      calib,
      eval: evalSet,
      calibration: method,
      force: true,
    });
    rows.push({
      variant,
      calibration: method,
      fp32Bytes: fp32.tflite.length,
      int8Bytes: report.sizeBytes,
      agreement: report.top1Agreement,
      floatAcc: report.accuracy?.float,
      int8Acc: report.accuracy?.converted,
      drop: report.accuracy?.drop,
    });
  }
}
if (args.includes('--json')) console.log(JSON.stringify(rows));
else {
  console.log(`Fashion-MNIST fixtures, ${EVAL} validation images, ${CALIB} calibration images`);
  console.log(
    '| variant | calibration | fp32 bytes | int8 bytes | top-1 agreement | float acc | int8 acc | drop (points) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const p = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : String(v));
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.calibration} | ${r.fp32Bytes} | ${r.int8Bytes} | ${p(100 * (r.agreement as number))}% | ${p(r.floatAcc)}% | ${p(r.int8Acc)}% | ${p(r.drop)} |`,
    );
  }
}
