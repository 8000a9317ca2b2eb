/**
 * Trains the two small models the int8 converter test uses (EfficientNet-B0 baseline and DMP at
 * width 0.25, depth 0.34, 28x28 grayscale, Fashion-MNIST) and saves them under
 * test/fixtures/int8/<variant>/ (tfjs Layers format). Run once; the test only converts them.
 *
 *   nice node --conditions=edge-dmp-source --import tsx scripts/make-int8-fixtures.ts [--samples 4000] [--epochs 5]
 *     [--model efficientnet-b0] [--out test/fixtures/int8]
 *
 * `--model efficientnet-lite0 --out runs/int8-lite0` makes the Lite0 pair of docs/converter.md.
 */
import * as tf from '@tensorflow/tfjs';
import {
  createModel,
  defaultPreprocess,
  registerFastKernels,
  saveModel,
  selectBackend,
} from '../sdk/index.js';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';

const args = process.argv.slice(2);
const flag = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const SAMPLES = flag('--samples', 4000);
const EPOCHS = flag('--epochs', 5);
const sflag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const MODEL = sflag('--model', 'efficientnet-b0');
const OUT = sflag('--out', 'test/fixtures/int8');

await selectBackend('wasm');
registerFastKernels();
const data = await loadData('fashion-mnist');
const pp = defaultPreprocess([28, 28], 1);
const train = await sampleInputs(data.train, pp, SAMPLES, 1);
const x = tf.tensor4d(train.x, [train.size, 28, 28, 1]);
const y = tf.oneHot(tf.tensor1d(train.y, 'int32'), 10);
for (const variant of ['baseline', 'dmp'] as const) {
  const m = createModel({
    model: MODEL,
    variant,
    classes: 10,
    inputSize: 28,
    inputChannels: 1,
    widthMult: 0.25,
    depthMult: 0.34,
    dropout: 0,
    dropConnect: 0,
  });
  m.compile({ optimizer: tf.train.adam(0.003), loss: tf.losses.softmaxCrossEntropy, metrics: ['accuracy'] });
  const h = await m.fit(x, y, { epochs: EPOCHS, batchSize: 64, verbose: 0, shuffle: true });
  console.log(variant, 'train accuracy per epoch', h.history.acc);
  await saveModel(m, `${OUT}/${variant}`);
}
