import * as tf from '@tensorflow/tfjs';
import { loadModel, defaultPreprocess } from './sdk/index.js';
import { loadData } from './sdk/data/index.js';
import { sampleInputs } from './sdk/data/pipeline.js';
import { convertModel } from './converter/convert.js';
await tf.setBackend('cpu');
const d = await loadData('fashion-mnist');
const pp = defaultPreprocess([28, 28], 1);
const ev = await sampleInputs(d.val, pp, 300, 1);
const evalSet = { x: tf.tensor4d(ev.x, [ev.size, 28, 28, 1]), labels: ev.y };
for (const v of ['baseline', 'dmp']) {
  const m = await loadModel('test/fixtures/int8/' + v);
  for (const n of [100, 200, 500]) {
    const cb = await sampleInputs(d.train, pp, n, Number(process.argv[2] ?? 2));
    const r = await convertModel(m, { quantize: 'int8', calib: { x: tf.tensor4d(cb.x, [cb.size, 28, 28, 1]) }, eval: evalSet, force: true, calibration: (process.argv[3] ?? 'minmax') as never, percentile: Number(process.argv[4] ?? 99.99) });
    console.log(v, n, r.report.top1Agreement, JSON.stringify(r.report.accuracy));
  }
}
