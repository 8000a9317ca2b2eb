/**
 * Stage: train. A small DMP EfficientNet on Fashion-MNIST (the Debian dataset package) into a run
 * directory: config.json, labels.txt, preprocess.json, metrics.jsonl, summary.json, best/, last/.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/train.ts [runs/example] [max-steps]
 */
import { consoleProgress, train } from '../sdk/index.js';

const [out = 'runs/example', maxSteps = '200'] = process.argv.slice(2);

const result = await train(
  {
    data: 'fashion-mnist',
    model: 'efficientnet-b0',
    variant: 'dmp',
    widthMult: 0.25,
    depthMult: 0.25,
    epochs: 1,
    batchSize: 32,
    maxSteps: Number(maxSteps),
    valLimit: 1000,
  },
  { out, onProgress: consoleProgress() },
);
const s = result.summary;
console.log(
  s
    ? `${out}: val top-1 ${s.val.top1} after ${s.steps} steps (${s.params.trainable} params)`
    : `${out}: interrupted`,
);
