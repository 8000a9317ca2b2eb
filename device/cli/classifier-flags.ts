/**
 * The model flags `edge-dmp classify` and `edge-dmp run` share: a bundle, or a BYO .tflite with
 * labels and preprocessing given flag by flag.
 */
import { ConfigError, type PreprocessSpec, num, numIn } from '@edge-dmp/core';
import type { ClassifierOptions } from '../classifier.js';
import { TRUST_FLAGS, TRUST_USAGE } from './trust-flags.js';

export const CLASSIFIER_FLAGS = {
  bundle: { type: 'string' },
  pubkey: { type: 'string' },
  model: { type: 'string' },
  labels: { type: 'string' },
  'input-size': { type: 'string' },
  channels: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  resize: { type: 'string' },
  'channel-order': { type: 'string' },
  'top-k': { type: 'string' },
  threads: { type: 'string' },
  ...TRUST_FLAGS,
} as const;

export const CLASSIFIER_USAGE = [
  '  --bundle <model.edmp>        model, labels and preprocessing from a bundle',
  '  --pubkey <edmp.pub>          with --bundle: require its signature by this key (and trust it from now on)',
  TRUST_USAGE,
  '  --model <x.tflite>           or bring your own model, with:',
  '  --labels <labels.txt>        one class name per line, in output order',
  '  --input-size <W>x<H>         default: the model input size',
  '  --channels <1|3>             default: from the model input',
  '  --scale <s>                  pixel multiplier, e.g. 1/255 (default)',
  '  --mean <m[,m,m]> --std <s[,s,s]>  per channel, after scaling',
  '  --resize <stretch|center-crop|letterbox>  --channel-order <rgb|bgr>',
  '  --top-k <N>                  entries in topK (default 5)',
  '  --threads <N>                runtime threads (default 1)',
].join('\n');

type Values = { [K in Exclude<keyof typeof CLASSIFIER_FLAGS, keyof typeof TRUST_FLAGS>]?: string };

function list(flag: string, v: string): number[] {
  return v.split(',').map((x) => num(flag, x.trim()));
}

/**
 * Flags -> createClassifier options; unset flags keep the bundle's or the model's defaults.
 * @example classifierOptions({ model: 'x.tflite', labels: 'labels.txt', 'input-size': '28x28', channels: '1' });
 */
export function classifierOptions(v: Values): ClassifierOptions {
  if (!v.bundle && !v.model) {
    throw new ConfigError({
      field: '--bundle',
      expected: '--bundle <model.edmp> or --model <x.tflite> --labels <file>',
      received: 'neither',
    });
  }
  if (v.bundle && v.model) {
    throw new ConfigError({
      field: '--model',
      expected: 'either --bundle or --model, not both',
      received: 'both',
    });
  }
  if (v.model && !v.labels) {
    throw new ConfigError({ field: '--labels', expected: 'a labels.txt with --model', received: undefined });
  }
  const pre: Partial<PreprocessSpec> = {};
  if (v['input-size'] !== undefined) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(v['input-size']);
    if (!m)
      throw new ConfigError({
        field: '--input-size',
        expected: '<W>x<H> or <N>, e.g. 28x28',
        received: v['input-size'],
      });
    const w = Number(m[1]);
    const h = Number(m[2] ?? m[1]);
    pre.inputSize = [h, w];
  }
  if (v.channels !== undefined) {
    if (v.channels !== '1' && v.channels !== '3') {
      throw new ConfigError({ field: '--channels', expected: '1 or 3', received: v.channels });
    }
    pre.channels = Number(v.channels) as 1 | 3;
  }
  if (v.scale !== undefined) pre.scale = numIn('--scale', v.scale, 'positive');
  // One mean/std value applies to every channel (the classifier broadcasts it).
  if (v.mean !== undefined) pre.mean = list('--mean', v.mean);
  if (v.std !== undefined) pre.std = list('--std', v.std);
  if (v.resize !== undefined) pre.resize = v.resize as PreprocessSpec['resize'];
  if (v['channel-order'] !== undefined)
    pre.channelOrder = v['channel-order'] as PreprocessSpec['channelOrder'];
  return {
    bundle: v.bundle,
    pubkey: v.pubkey,
    model: v.model,
    labels: v.labels,
    preprocessing: Object.keys(pre).length ? pre : undefined,
    topK: v['top-k'] !== undefined ? numIn('--top-k', v['top-k'], 'positive integer') : undefined,
    threads: v.threads !== undefined ? numIn('--threads', v.threads, 'positive integer') : undefined,
  };
}
