/**
 * `.tflite` sizes of EfficientNet-B0 vs its DMP variants (10 classes, 224x224x3, random weights) at
 * fp32 / fp16 / dynamic / int8, each converted and verified in the TFLite runtime.
 *
 *   npm run bench:convert-sizes      (or: nice node --conditions=edge-dmp-source --import tsx bench/convert-sizes.ts [--size 224] [--samples 4] [--json])
 */
import * as tf from '@tensorflow/tfjs';
import { convertModel } from '../converter/convert.js';
import { QUANTIZE_MODES } from '../converter/quantize.js';
import { createModel } from '../sdk/models/registry.js';
import { countParams } from '../sdk/models/stats.js';
import type { Variant } from '../sdk/models/archs.js';

const args = process.argv.slice(2);
const flag = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const SIZE = flag('--size', 224);
const SAMPLES = flag('--samples', 4);
const JSON_OUT = args.includes('--json');

await tf.setBackend('cpu');
const rows: {
  variant: string;
  params: number;
  mode: string;
  bytes: number;
  relDiff: number;
  agreement: number;
}[] = [];
for (const variant of ['baseline', 'maxpool', 'duplicate', 'dmp'] as Variant[]) {
  const m = createModel({ model: 'efficientnet-b0', variant, classes: 10, inputSize: SIZE });
  const x = tf.randomUniform([SAMPLES, SIZE, SIZE, 3], 0, 1, 'float32', 3);
  for (const mode of QUANTIZE_MODES) {
    // force: random weights and inputs have no accuracy to keep; the sizes are the point here.
    const { tflite, report } = await convertModel(m, { quantize: mode, calib: { x }, force: true });
    rows.push({
      variant,
      params: countParams(m).trainable,
      mode,
      bytes: tflite.length,
      relDiff: report.relDiff,
      agreement: report.top1Agreement,
    });
    if (!JSON_OUT) console.error(`${variant} ${mode}: ${tflite.length} bytes`);
  }
  x.dispose();
  m.dispose();
}
if (JSON_OUT) console.log(JSON.stringify(rows));
else {
  console.log(
    `EfficientNet-B0 variants, 10 classes, ${SIZE}x${SIZE}x3, verified on ${SAMPLES} random inputs`,
  );
  console.log(
    '| variant | trainable params | mode | .tflite bytes | MB | max diff / logit range | top-1 agreement |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.params} | ${r.mode} | ${r.bytes} | ${(r.bytes / 1e6).toFixed(2)} | ${r.relDiff.toExponential(2)} | ${(100 * r.agreement).toFixed(0)}% |`,
    );
  }
}
