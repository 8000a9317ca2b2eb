/**
 * Where int8 bytes and int8 error come from:
 * 1. size breakdown of EfficientNet-B0 DMP int8 (10 classes, full width; the file size does not
 *    depend on the input size, so a 32x32 input keeps this fast), and the size of a copy written
 *    without sharing repeated vectors (zero points, shapes) between tensors;
 * 2. SQNR (dB) of single ops quantized alone (Gaussian inputs, min/max calibration);
 * 3. SQNR of every activation of the trained DMP fixture (test/fixtures/int8/dmp) along the network.
 *
 *   npm run bench:int8-anatomy      (or: nice node --conditions=edge-dmp-source --import tsx bench/int8-anatomy.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { calibrate } from '../converter/convert.js';
import { lowerModel } from '../converter/lower.js';
import { calibrationGraph, quantizeGraph } from '../converter/quantize.js';
import type { Graph } from '../core/tflite/graph.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { loadModel } from '../sdk/models/io.js';
import { createModel } from '../sdk/models/registry.js';
import { defaultPreprocess } from '../core/preprocess.js';

type Sym = tf.SymbolicTensor;
await tf.setBackend('cpu');

/** SQNR in dB of each listed tensor: float graph vs its int8 version, over inputs xs. */
async function sqnr(g: Graph, q: Graph, tensors: number[], xs: Float32Array[]): Promise<number[]> {
  const fr = await loadTfliteModel(writeTflite({ ...g, outputs: tensors }));
  const qr = await loadTfliteModel(writeTflite({ ...q, outputs: tensors }));
  const qi = qr.inputs[0].quantization ?? { scale: 1, zeroPoint: 0 };
  const sig = tensors.map(() => 0);
  const err = tensors.map(() => 0);
  for (const x of xs) {
    const fo = fr.infer([x]);
    const qo = qr.infer([
      Int8Array.from(x, (v) => Math.max(-128, Math.min(127, Math.round(v / qi.scale) + qi.zeroPoint))),
    ]);
    tensors.forEach((t, j) => {
      const qq = q.tensors[t].quant as { scale: number[]; zeroPoint: number[] };
      for (let k = 0; k < fo[j].length; k++) {
        const d = fo[j][k] - (qo[j][k] - qq.zeroPoint[0]) * qq.scale[0];
        err[j] += d * d;
        sig[j] += fo[j][k] ** 2;
      }
    });
  }
  fr.dispose();
  qr.dispose();
  return sig.map((s, j) => 10 * Math.log10(s / err[j]));
}

// 1. Size breakdown.
{
  const m = createModel({ model: 'efficientnet-b0', variant: 'dmp', classes: 10, inputSize: 32 });
  const g = lowerModel(m);
  const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
  const q = quantizeGraph(g, 'int8', { ranges: await calibrate(g, x) });
  const bytes = writeTflite(q);
  let data = 0;
  let wq = 0;
  let bq = 0;
  let zp = 0;
  const zpVectors = new Set<string>();
  for (const t of q.tensors) {
    if (t.data) data += t.data.length;
    if (!t.quant || !t.data) continue;
    // Per channel: a float32 scale (own to each tensor) and an int64 zero point (shared vectors).
    const k = t.quant.scale.length * 4;
    if (t.type === 'INT32') bq += k;
    else wq += k;
    zp += t.quant.zeroPoint.length * 8;
    zpVectors.add(t.quant.zeroPoint.join(','));
  }
  const unshared = writeTflite(q, { shareVectors: false });
  const shared = [...zpVectors].reduce((a, v) => a + v.split(',').length * 8, 0);
  console.log('EfficientNet-B0 DMP int8, 10 classes');
  console.log('| part | bytes |\n| --- | --- |');
  console.log(`| whole .tflite | ${bytes.length} |`);
  console.log(`| constant data (int8 weights, int32 biases) | ${data} |`);
  console.log(`| weight scales (float32 per channel) | ${wq} |`);
  console.log(`| bias scales (float32 per channel) | ${bq} |`);
  console.log(`| zero points as referenced by the tensors (int64 per channel) | ${zp} |`);
  console.log(`| zero points as written (${zpVectors.size} distinct vectors, shared) | ${shared} |`);
  console.log(`| .tflite with every vector written per tensor (no sharing) | ${unshared.length} |`);
}

// 2. Single ops.
{
  const conv = (x: Sym, filters: number, k: number) =>
    tf.layers.conv2d({ filters, kernelSize: k, padding: 'same' }).apply(x) as Sym;
  const gap = (x: Sym) => tf.layers.globalAveragePooling2d({}).apply(x) as Sym;
  const ops: Record<string, (x: Sym) => Sym> = {
    'Conv2D 3x3': (x) => conv(x, 16, 3),
    DepthwiseConv2D: (x) => tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(x) as Sym,
    swish: (x) => tf.layers.activation({ activation: 'swish' }).apply(x) as Sym,
    sigmoid: (x) => tf.layers.activation({ activation: 'sigmoid' }).apply(x) as Sym,
    GlobalAveragePooling2D: gap,
    'Add (x + conv1x1(x))': (x) => tf.layers.add().apply([x, conv(x, 16, 1)]) as Sym,
    'Multiply (SE-style broadcast)': (x) =>
      tf.layers
        .multiply()
        .apply([x, tf.layers.reshape({ targetShape: [1, 1, 16] }).apply(gap(x)) as Sym]) as Sym,
    Dense: (x) => tf.layers.dense({ units: 10 }).apply(gap(x)) as Sym,
  };
  console.log('\nsingle ops, input 8x8x16 ~ N(0, 1), 50 samples');
  console.log('| op | SQNR (dB) |\n| --- | --- |');
  for (const [name, build] of Object.entries(ops)) {
    const inp = tf.input({ shape: [8, 8, 16] });
    const g = lowerModel(tf.model({ inputs: inp, outputs: build(inp) }));
    const x = tf.randomNormal([50, 8, 8, 16], 0, 1, 'float32', 3);
    const q = quantizeGraph(g, 'int8', {
      ranges: await calibrate(g, x),
      inputType: 'int8',
      outputType: 'int8',
    });
    const all = x.dataSync() as Float32Array;
    const xs = Array.from({ length: 50 }, (_, i) => all.slice(i * 1024, (i + 1) * 1024));
    const [db] = await sqnr(g, q, g.outputs, xs);
    console.log(`| ${name} | ${db.toFixed(1)} |`);
  }
}

// 3. Along the trained DMP fixture.
{
  const m = await loadModel('test/fixtures/int8/dmp');
  const data = await loadData('fashion-mnist');
  const pp = defaultPreprocess([28, 28], 1);
  const cb = await sampleInputs(data.train, pp, 200, 2);
  const ev = await sampleInputs(data.val, pp, 20, 1);
  const g = lowerModel(m);
  const q = quantizeGraph(g, 'int8', {
    ranges: await calibrate(g, tf.tensor4d(cb.x, [cb.size, 28, 28, 1])),
    inputType: 'int8',
    outputType: 'int8',
  });
  const { tensors } = calibrationGraph(g);
  const xs = Array.from({ length: ev.size }, (_, i) => ev.x.slice(i * 784, (i + 1) * 784));
  const db = await sqnr(g, q, tensors, xs);
  console.log('\ntrained DMP fixture, 20 validation images: SQNR of each activation');
  console.log('| op | tensor | SQNR (dB) |\n| --- | --- | --- |');
  tensors.forEach((t, j) => {
    const op = g.ops.find((o) => o.outputs.includes(t))?.op;
    console.log(`| ${op} | ${g.tensors[t].name} | ${db[j].toFixed(1)} |`);
  });
}
