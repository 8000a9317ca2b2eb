/**
 * Why int8 flips top-1 classes on a trained model: how close the float model's top two logits are
 * (margins), how large the logit error is with int8 weights only (`dynamic`) and with full int8, and
 * which activations cause it. Each activation is quantized alone ("fake quantization": QUANTIZE +
 * DEQUANTIZE inserted after it in the float graph, with the int8 model's own parameters) and the
 * logit SQNR is measured in the TFLite runtime; tensors are also grouped by producer -> consumers.
 *
 *   nice node --conditions=edge-dmp-source --import tsx bench/int8-sensitivity.ts [--models runs/x] [--variant baseline] [--eval 1000] [--top 10]
 */
import * as tf from '@tensorflow/tfjs';
import { calibrate, runTflite } from '../converter/convert.js';
import { lowerModel } from '../converter/lower.js';
import { quantizeGraph } from '../converter/quantize.js';
import type { Graph, GraphOp } from '../core/tflite/graph.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { consumersOf } from '../core/tflite/graph.js';
import { loadModel } from '../sdk/models/io.js';
import { compareLogits, fashionSets, trainedModelDir } from './int8-common.js';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const MODELS = flag('--models', '');
const VARIANT = flag('--variant', 'baseline');
const EVAL = Number(flag('--eval', '1000'));
const TOP = Number(flag('--top', '10'));

await tf.setBackend('cpu');
const { evalSet, calib } = await fashionSets(EVAL, 200);
const ex = evalSet.x;
const cx = calib.x;
const dir = trainedModelDir(MODELS, VARIANT);
const g = lowerModel(await loadModel(dir));

async function run(h: Graph): Promise<Float32Array[]> {
  const rt = await loadTfliteModel(writeTflite(h));
  try {
    return runTflite(rt, ex);
  } finally {
    rt.dispose();
  }
}
const ref = await run(g);

const compare = (out: Float32Array[]) => compareLogits(ref, out);

const ranges = await calibrate(g, cx);
const q = quantizeGraph(g, 'int8', { ranges });
const acts = g.ops.flatMap((o) => o.outputs);

/** The float graph with tensors `ts` quantized and dequantized in place (the int8 model's parameters). */
function fake(ts: number[]): Graph {
  const h: Graph = {
    ...g,
    tensors: [...g.tensors],
    ops: g.ops.map((o) => ({ ...o, inputs: [...o.inputs] })),
  };
  for (const t of ts) {
    const src = g.tensors[t];
    const qt = h.tensors.push({ ...src, name: `${src.name}/q`, type: 'INT8', quant: q.tensors[t].quant }) - 1;
    const dt = h.tensors.push({ ...src, name: `${src.name}/dq`, type: 'FLOAT32', quant: undefined }) - 1;
    for (const o of h.ops) o.inputs = o.inputs.map((i) => (i === t ? dt : i));
    const ops: GraphOp[] = [
      {
        op: 'QUANTIZE',
        inputs: [t],
        outputs: [qt],
        version: 2,
        options: { kind: 'QuantizeOptions', values: {} },
      },
      {
        op: 'DEQUANTIZE',
        inputs: [qt],
        outputs: [dt],
        version: 2,
        options: { kind: 'DequantizeOptions', values: {} },
      },
    ];
    h.ops.splice(h.ops.findIndex((o) => o.outputs.includes(t)) + 1, 0, ...ops);
    h.outputs = h.outputs.map((i) => (i === t ? dt : i));
  }
  return h;
}

const margins = ref
  .map((r) => {
    const s = [...r].sort((a, b) => b - a);
    return s[0] - s[1];
  })
  .sort((a, b) => a - b);
let sd = 0;
for (const r of ref) {
  const mu = r.reduce((a, b) => a + b, 0) / r.length;
  for (const v of r) sd += (v - mu) ** 2;
}
const pct = (p: number) => margins[Math.floor((margins.length * p) / 100)].toFixed(3);
console.log(`${dir}: ${EVAL} Fashion-MNIST test images, 200 calibration images (default percentile)`);
console.log(
  `float logits: std ${Math.sqrt(sd / ref.length / ref[0].length).toFixed(3)}; top-1 - top-2 margin percentiles p1 ${pct(1)}, p2 ${pct(2)}, p5 ${pct(5)}`,
);
console.log('\n| model | logit SQNR (dB) | logit error RMS | top-1 agreement |\n| --- | --- | --- | --- |');
const row = (name: string, c: ReturnType<typeof compare>) =>
  console.log(
    `| ${name} | ${c.sqnr.toFixed(1)} | ${c.rms.toFixed(3)} | ${(100 * c.agreement).toFixed(2)}% |`,
  );
row('dynamic (int8 weights, float activations)', compare(await run(quantizeGraph(g, 'dynamic'))));
row('full int8', compare(await run(q)));
row('float weights, every activation fake-quantized', compare(await run(fake(acts))));

const producer = (t: number) => g.ops.find((o) => o.outputs.includes(t))?.op ?? 'input';
const readers = consumersOf(g);
const consumers = (t: number) => (readers.get(t) ?? []).map((o) => o.op).join('+') || 'output';
const groups = new Map<string, number[]>();
for (const t of acts) {
  const k = `${producer(t)} -> ${consumers(t)}`;
  groups.set(k, [...(groups.get(k) ?? []), t]);
}
const groupRows: [string, number, number][] = [];
for (const [k, ts] of groups) groupRows.push([k, ts.length, compare(await run(fake(ts))).sqnr]);
groupRows.sort((a, b) => a[2] - b[2]);
console.log('\nactivation groups quantized alone (producer -> consumers), worst first');
console.log('| group | tensors | logit SQNR (dB) |\n| --- | --- | --- |');
for (const [k, n, s] of groupRows) console.log(`| ${k} | ${n} | ${s.toFixed(1)} |`);

const single: [string, number][] = [];
for (const t of acts) {
  const scale = q.tensors[t].quant?.scale[0] ?? 0;
  single.push([
    `${g.tensors[t].name} (${producer(t)} -> ${consumers(t)}, step ${scale.toPrecision(3)})`,
    compare(await run(fake([t]))).sqnr,
  ]);
}
single.sort((a, b) => a[1] - b[1]);
console.log(`\nsingle activations quantized alone, worst ${TOP}`);
console.log('| tensor | logit SQNR (dB) |\n| --- | --- |');
for (const [k, s] of single.slice(0, TOP)) console.log(`| ${k} | ${s.toFixed(1)} |`);
