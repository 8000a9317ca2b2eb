/** Evaluation: top-1, top-5, per-class accuracy and the confusion matrix over a dataset split. */
import * as tf from '@tensorflow/tfjs';
import { evalBatches } from '../data/pipeline.js';
import type { ImageDataset } from '../data/types.js';
import type { PreprocessSpec } from '@edge-dmp/core';

export interface ClassAccuracy {
  class: string;
  count: number;
  correct: number;
  top1: number;
}

export interface Evaluation {
  count: number;
  loss: number;
  top1: number;
  top5: number;
  perClass: ClassAccuracy[];
  /** confusion[true][predicted] */
  confusion: number[][];
}

/**
 * Evaluates a logits model on (up to `limit` images of) a split, in inference mode.
 * @example
 * const ev = await evaluate(model, data.val, preprocess);
 * console.log(ev.top1, ev.confusion);
 */
export async function evaluate(
  model: tf.LayersModel,
  ds: ImageDataset,
  preprocess: PreprocessSpec,
  opts: { batchSize?: number; limit?: number } = {},
): Promise<Evaluation> {
  const k = ds.classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let count = 0;
  let top5 = 0;
  let lossSum = 0;
  const [H, W] = preprocess.inputSize;
  const C = preprocess.channels;
  for await (const b of evalBatches(ds, preprocess, opts.batchSize ?? 128, opts.limit)) {
    if (b.size === 0) continue;
    const kk = Math.min(5, k);
    const [topT, lossT] = tf.tidy(() => {
      const logits = model.predict(tf.tensor4d(b.x, [b.size, H, W, C])) as tf.Tensor2D;
      const onehot = tf.oneHot(tf.tensor1d(b.y, 'int32'), k);
      const l = tf.losses.softmaxCrossEntropy(onehot, logits, undefined, 0, tf.Reduction.SUM);
      return [tf.topk(logits, kk).indices, l];
    });
    const top = (await topT.data()) as Int32Array;
    lossSum += (await lossT.data())[0];
    tf.dispose([topT, lossT]);
    for (let i = 0; i < b.size; i++) {
      confusion[b.y[i]][top[i * kk]]++;
      for (let j = 0; j < kk; j++) if (top[i * kk + j] === b.y[i]) top5++;
    }
    count += b.size;
  }
  const perClass = ds.classes.map((name, c) => {
    const n = confusion[c].reduce((a, v) => a + v, 0);
    return { class: name, count: n, correct: confusion[c][c], top1: n ? confusion[c][c] / n : 0 };
  });
  const correct = perClass.reduce((a, v) => a + v.correct, 0);
  return {
    count,
    loss: count ? lossSum / count : 0,
    top1: count ? correct / count : 0,
    top5: count ? top5 / count : 0,
    perClass,
    confusion,
  };
}
