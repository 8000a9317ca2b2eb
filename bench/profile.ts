/**
 * Per-op profile of every zoo model in fp32 and int8 (not a test): the runtime's own profiler
 * (bench/op-profile.ts) over a few calls of each converted `.tflite`. Prints per model the number of
 * XNNPACK partitions, the builtin ops run outside the delegate (count and ms) and where the time goes
 * inside it (the 8 largest XNNPACK operators; with several partitions the runtime reports the
 * delegate times of only some of them). Random weights and BatchNorm statistics (as in the
 * tests: at init, MobileNetV2's activations shrink to ~1e-9 through the blocks and its int8 file
 * fails the kernels' overflow check at load), 10 classes, full width/depth.
 *
 *   npm run bench:profile                      # 224x224, every zoo model
 *   npm run bench:profile -- --res 64 --runs 3 --models efficientnet-b0
 *   npm run bench:profile -- --json
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { convertModel } from '../converter/convert.js';
import { createModel } from '../sdk/models/registry.js';
import { VARIANTS, type Variant } from '../sdk/models/archs.js';
import { opsOutside, profileTflite } from './op-profile.js';
import { randomBatchNorm } from '../test/helpers/zoo-models.js';

const args = process.argv.slice(2);
const flag = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const res = Number(flag('--res', '224'));
const runs = Number(flag('--runs', '5'));
const models = flag('--models', 'efficientnet-b0,mobilenetv2,efficientnet-lite0').split(',');
const json = args.includes('--json');

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  if (!json)
    console.log(
      `bench:profile ${res}x${res}, ${runs} profiled calls; load average ${loadavg()[0].toFixed(1)} at start`,
    );
  for (const model of models) {
    const variants = (
      model === 'efficientnet-lite0' ? ['baseline', 'dmp'] : Object.keys(VARIANTS)
    ) as Variant[];
    for (const variant of variants) {
      const m = createModel({ model, variant, classes: 10, inputSize: res, dropout: 0, dropConnect: 0 });
      randomBatchNorm(m);
      const x = tf.randomUniform([2, res, res, 3], 0, 1, 'float32', 8);
      for (const quantize of ['fp32', 'int8'] as const) {
        const { tflite } = await convertModel(m, {
          quantize,
          calib: quantize === 'int8' ? { x } : undefined,
          eval: { x },
          force: true,
        });
        const p = await profileTflite(tflite, runs);
        const top = Object.entries(p.delegated)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join('; ');
        const outMs = Object.values(p.outsideMs).reduce((a, b) => a + b, 0);
        if (json) console.log(JSON.stringify({ model, variant, quantize, res, ...p }));
        else
          console.log(
            `${model.padEnd(18)} ${variant.padEnd(9)} ${quantize}  ${p.totalMs.toFixed(1).padStart(7)} ms` +
              `  partitions ${String(p.partitions).padStart(2)}  outside ${outMs.toFixed(2)} ms: ${opsOutside(p.outside)}` +
              `\n      delegate top: ${top}`,
          );
      }
      tf.dispose(x);
      m.dispose();
    }
  }
  if (!json) console.log(`load average ${loadavg()[0].toFixed(1)} at end`);
}

await main();
