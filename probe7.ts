import * as tf from '@tensorflow/tfjs';
import { loadModel, defaultPreprocess } from './sdk/index.js';
import { loadData } from './sdk/data/index.js';
import { sampleInputs } from './sdk/data/pipeline.js';
import { lowerModel } from './converter/lower.js';
import { calibrate } from './converter/convert.js';
import { quantizeGraph, calibrationGraph } from './converter/quantize.js';
import { writeTflite } from './converter/tflite/writer.js';
import { loadTfliteModel } from './device/tflite-runtime.js';
await tf.setBackend('cpu');
const m = await loadModel('test/fixtures/int8/' + (process.argv[2] ?? 'dmp'));
const d = await loadData('fashion-mnist');
const pp = defaultPreprocess([28, 28], 1);
const cb = await sampleInputs(d.train, pp, 200, 2);
const ev = await sampleInputs(d.val, pp, 20, 1);
const g = lowerModel(m);
const ranges = await calibrate(g, tf.tensor4d(cb.x, [cb.size, 28, 28, 1]));
const q = quantizeGraph(g, 'int8', { ranges, inputType: 'int8', outputType: 'int8' });
const { tensors } = calibrationGraph(g);
const fr = await loadTfliteModel(writeTflite({ ...g, outputs: tensors }));
const qr = await loadTfliteModel(writeTflite({ ...q, outputs: tensors }));
const err = new Map<number, { e: number; s: number }>();
for (let i = 0; i < ev.size; i++) {
  const xi = ev.x.subarray(i * 784, (i + 1) * 784);
  const fo = fr.infer([xi]);
  const qi = qr.inputs[0].quantization!;
  const qo = qr.infer([Int8Array.from(xi, (v) => Math.max(-128, Math.min(127, Math.round(v / qi.scale) + qi.zeroPoint)))]);
  tensors.forEach((t, j) => {
    const qq = q.tensors[t].quant!;
    const a = fo[j], b = qo[j];
    const r = err.get(t) ?? { e: 0, s: 0 };
    for (let k = 0; k < a.length; k++) { const dq = (b[k] - qq.zeroPoint[0]) * qq.scale[0]; r.e += (a[k] - dq) ** 2; r.s += a[k] ** 2; }
    err.set(t, r);
  });
}
for (const t of tensors) { const r = err.get(t)!; const op = g.ops.find((o) => o.outputs.includes(t))!.op; console.log(op.padEnd(18), g.tensors[t].name.padEnd(40), (10 * Math.log10(r.s / r.e)).toFixed(1), 'dB', JSON.stringify(ranges.get(t))); }
fr.dispose(); qr.dispose();
