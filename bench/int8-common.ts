/**
 * What the int8 benches share: the Fashion-MNIST test / calibration samples (seeded, pixel / 255,
 * 28x28x1), where a trained model lives, and how converted logits compare with float ones.
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { loadData } from '../sdk/data/index.js';
import { sampleInputs } from '../sdk/data/pipeline.js';
import { defaultPreprocess } from '../core/preprocess.js';

/** `evalN` test images (seed 1, with labels) and `calibN` training images (seed 2). */
export async function fashionSets(
  evalN: number,
  calibN: number,
): Promise<{ evalSet: { x: tf.Tensor4D; labels: Int32Array }; calib: { x: tf.Tensor4D } }> {
  const data = await loadData('fashion-mnist');
  const pp = defaultPreprocess([28, 28], 1);
  const ev = await sampleInputs(data.val, pp, evalN, 1);
  const cb = await sampleInputs(data.train, pp, calibN, 2);
  return {
    evalSet: { x: tf.tensor4d(ev.x, [ev.size, 28, 28, 1]), labels: ev.y },
    calib: { x: tf.tensor4d(cb.x, [cb.size, 28, 28, 1]) },
  };
}

/** `<models>/<variant>/best` of an `edge-dmp train` run, `<models>/<variant>`, or the test fixture. */
export function trainedModelDir(models: string, variant: string): string {
  if (!models) return `test/fixtures/int8/${variant}`;
  return existsSync(`${models}/${variant}/best`) ? `${models}/${variant}/best` : `${models}/${variant}`;
}

const argmax = (v: Float32Array) => v.indexOf(Math.max(...v));

/**
 * Logit SQNR in dB (signal: the float logits around their per-sample mean), error RMS and top-1
 * agreement of `out` against `ref`.
 */
export function compareLogits(
  ref: Float32Array[],
  out: Float32Array[],
): { sqnr: number; rms: number; agreement: number } {
  let sig = 0;
  let err = 0;
  let agree = 0;
  ref.forEach((r, i) => {
    const mu = r.reduce((a, b) => a + b, 0) / r.length;
    r.forEach((v, k) => {
      sig += (v - mu) ** 2;
      err += (v - out[i][k]) ** 2;
    });
    if (argmax(r) === argmax(out[i])) agree++;
  });
  const n = ref.length * ref[0].length;
  return { sqnr: 10 * Math.log10(sig / err), rms: Math.sqrt(err / n), agreement: agree / ref.length };
}
