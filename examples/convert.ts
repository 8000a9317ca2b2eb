/**
 * Stage: convert. A training run (`edge-dmp train --out runs/x`) -> int8 `.tflite` calibrated and
 * verified in the TFLite runtime -> signed `.edmp` with the report card and golden samples.
 * Inputs are preprocessed by the device's own functions, so the converter and the device agree.
 *
 *   node --import tsx examples/convert.ts runs/example model.edmp keys/edmp.key [fp32|fp16|dynamic|int8]
 */
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertModel, writeBundle, type GoldenInput, type QuantizeMode } from '../converter/index.js';
import { createClassifier, resizePixels, toInputTensor } from '../device/index.js';
import { loadData, loadModel, selectBackend, type PreprocessSpec, type RawImage } from '../sdk/index.js';

const [run, out, key, modeArg = 'int8'] = process.argv.slice(2);
const mode = modeArg as QuantizeMode;
if (!run || !out || !key) {
  console.error('usage: node --import tsx examples/convert.ts runs/x model.edmp edmp.key [mode]');
  process.exit(2);
}
await selectBackend('wasm');
const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
const labels = (await readFile(join(run, 'labels.txt'), 'utf8')).trimEnd().split('\n');
const spec: PreprocessSpec = JSON.parse(await readFile(join(run, 'preprocess.json'), 'utf8'));
const model = await loadModel(join(run, 'best'));

// 300 validation images: calibration, evaluation and the golden candidates.
const val = (await loadData(config.data, { splits: 'val' })).val;
const n = Math.min(300, val.length);
const images = (await val.read(Array.from({ length: n }, (_, i) => i))).filter(
  (im): im is RawImage => im !== null,
);
const [h, w] = spec.inputSize;
const floatInput = { shape: [1, h, w, spec.channels], dtype: 'float32' as const };
const xs = await Promise.all(
  images.map(async (im) =>
    toInputTensor(await resizePixels({ ...im, data: Buffer.from(im.data) }, spec), spec, floatInput),
  ),
);
const x = tf.tensor4d(Float32Array.from(xs.flatMap((a) => Array.from(a))), [xs.length, h, w, spec.channels]);
const y = Int32Array.from(images.map((_, i) => val.labels[i]));

const { tflite, report } = await convertModel(model, {
  quantize: mode as QuantizeMode,
  calib: { x },
  eval: { x, labels: y },
  labels,
});
console.log(
  `${mode}: ${tflite.length} bytes, top-1 agreement ${report.top1Agreement} (decided ${report.decidedAgreement}), accuracy ${JSON.stringify(report.accuracy)}`,
);

// Golden samples: images at the input size that the float model gets right and the device, running
// the .tflite through its own preprocessing, agrees on.
const floatTop1 = (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
const device = await createClassifier({ model: tflite, labels, preprocessing: spec });
const golden: GoldenInput[] = [];
for (const [i, im] of images.entries()) {
  if (golden.length === 4) break;
  // One per class, so a label-order mix-up cannot pass by luck.
  if (golden.some((g) => g.label === labels[y[i]])) continue;
  if (im.width !== w || im.height !== h || floatTop1[i] !== y[i]) continue;
  const r = await device.classify({
    data: im.data,
    width: w,
    height: h,
    format: im.channels === 1 ? 'gray' : 'rgb',
  });
  if (r.label === labels[y[i]]) golden.push({ pixels: im, label: r.label, score: r.score });
}
device.dispose();

const built = await writeBundle(
  out,
  {
    tflite,
    labels,
    model: { name: `${config.model}-${config.variant}`, variant: config.variant, architecture: config.model },
    preprocess: spec,
    quantization: { mode, calibrationSamples: xs.length },
    params: model.countParams(),
    reportCard: report as unknown as Record<string, unknown>,
    provenance: { trainingRun: run, dataset: config.data },
    golden,
  },
  { signKey: key },
);
console.log(`${out}: ${built.bytes.length} bytes, signed by ${built.keyId}, ${golden.length} golden samples`);
