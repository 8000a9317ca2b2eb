/** Shared set-up for tests and benches that run zoo models through the converter. */
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm } from '../../sdk/norm-layers.js';

/**
 * Seeded random BatchNorm gamma / beta / mean (variance in [0.5, 1.5]): ranges like a trained
 * model's. At init the logits are ~1e-16 and an int8 model of them compares nothing.
 * @example randomBatchNorm(model);
 */
export function randomBatchNorm(m: tf.LayersModel, seed = 11): void {
  for (const l of m.layers) {
    if (!isBatchNorm(l)) continue;
    l.setWeights(
      l
        .getWeights()
        .map((w, i) =>
          tf.randomUniform(w.shape, i === 3 ? 0.5 : -0.5, i === 3 ? 1.5 : 0.5, 'float32', seed++),
        ),
    );
  }
}
