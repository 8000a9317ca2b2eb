import * as tf from '@tensorflow/tfjs';
import { createModel, defaultPreprocess, selectBackend, registerFastKernels } from './sdk/index.js';
import { loadData } from './sdk/data/index.js';
import { sampleInputs } from './sdk/data/pipeline.js';
import { convertModel } from './converter/convert.js';
import { saveModel, loadModel } from './sdk/index.js';
import { existsSync } from 'node:fs';
const be = process.argv[2] ?? 'cpu';
await selectBackend(be as never); if (be === 'wasm') registerFastKernels();
const d = await loadData('fashion-mnist');
const pp = defaultPreprocess([28, 28], 1);
const tr = await sampleInputs(d.train, pp, 2000, 1);
const te = await sampleInputs(d.val, pp, 300, 2);
const xtr = tf.tensor4d(tr.x, [tr.size, 28, 28, 1]); const ytr = tf.oneHot(tf.tensor1d(tr.y, 'int32'), 10);
const xte = tf.tensor4d(te.x, [te.size, 28, 28, 1]);
for (const variant of ['baseline', 'dmp'] as const) {
  let m: tf.LayersModel;
  if (existsSync(`/tmp/m-${variant}/model.json`)) m = await loadModel(`/tmp/m-${variant}`); else {
  m = createModel({ model: 'efficientnet-b0', variant, classes: 10, inputSize: 28, inputChannels: 1, widthMult: 0.25, depthMult: 0.34, dropout: 0, dropConnect: 0 });
  m.compile({ optimizer: tf.train.adam(0.005), loss: tf.losses.softmaxCrossEntropy, metrics: ['accuracy'] });
  const t0 = Date.now();
  const h = await m.fit(xtr, ytr, { epochs: 3, batchSize: 64, verbose: 0 });
  console.log(variant, 'train s', (Date.now() - t0) / 1000, h.history.acc);
  await saveModel(m, `/tmp/m-${variant}`); }
  const t1 = Date.now();
  const r = await convertModel(m, { quantize: 'int8', calib: { x: tf.tensor4d(tr.x.subarray(0, 784*Number(process.argv[3] ?? 100)), [Number(process.argv[3] ?? 100), 28, 28, 1]) }, eval: { x: xte, labels: te.y }, force: true, calibration: (process.argv[4] ?? 'minmax') as never, percentile: Number(process.argv[5] ?? 99.99) });
  console.log(variant, 'convert s', (Date.now() - t1) / 1000, JSON.stringify({ ...r.report, perClass: undefined }));
}
