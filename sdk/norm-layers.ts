/**
 * BatchNorm and swish as edge-dmp layers, so the fused wasm training kernels are chosen in their
 * own `call()` (docs/training-speed.md) instead of by patching tfjs-layers. Numerics, weight names
 * (`gamma`, `beta`, `moving_mean`, `moving_variance`) and the moving-average rule are tfjs's; the
 * converter lowers them exactly like the stock `BatchNormalization` and `swish` activation.
 */
import * as tf from '@tensorflow/tfjs';
import { BN_TRAIN, batchNormTraining } from './kernels/batchnorm.js';
import { SWISH, swish } from './kernels/swish.js';
import { fastKernel } from './kernels/available.js';

type Kwargs = Record<string, unknown>;
const single = (x: tf.Tensor | tf.Tensor[]) => (Array.isArray(x) ? x[0] : x);

export interface BatchNormArgs {
  name?: string;
  momentum?: number;
  epsilon?: number;
  trainable?: boolean;
}

/**
 * Batch normalization over the last axis; serializable as `EdgeDmpBatchNorm`.
 * Training: batch statistics (one fused kernel on wasm) and
 * `moving = moving - (moving - batch) * (1 - momentum)`; inference: the moving statistics.
 * @example const y = new BatchNorm({ momentum: 0.9, epsilon: 1e-3 }).apply(x);
 */
export class BatchNorm extends tf.layers.Layer {
  static className = 'EdgeDmpBatchNorm';
  /** Public so precise-BN can step it (trainer.ts). */
  momentum: number;
  readonly epsilon: number;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;
  private movingMean?: tf.LayerVariable;
  private movingVariance?: tf.LayerVariable;

  constructor(args: BatchNormArgs = {}) {
    super({ name: args.name, trainable: args.trainable });
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const c = s[s.length - 1] as number;
    const ones = tf.initializers.ones();
    const zeros = tf.initializers.zeros();
    this.gamma = this.addWeight('gamma', [c], 'float32', ones, undefined, true);
    this.beta = this.addWeight('beta', [c], 'float32', zeros, undefined, true);
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', zeros, undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [c], 'float32', ones, undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const gamma = this.gamma!.read();
      const beta = this.beta!.read();
      if (kwargs?.['training'] !== true) {
        return tf.batchNorm(
          x,
          this.movingMean!.read(),
          this.movingVariance!.read(),
          beta,
          gamma,
          this.epsilon,
        );
      }
      let y: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor;
      if (fastKernel(BN_TRAIN) && x.dtype === 'float32') {
        [y, mean, variance] = batchNormTraining(x, gamma, beta, this.epsilon);
      } else {
        ({ mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]));
        y = tf.batchNorm(x, mean, variance, beta, gamma, this.epsilon);
      }
      this.updateMoving(this.movingMean!, mean);
      this.updateMoving(this.movingVariance!, variance);
      return y;
    });
  }

  private updateMoving(v: tf.LayerVariable, value: tf.Tensor): void {
    tf.tidy(() => {
      const orig = v.read();
      v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - this.momentum)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
  }
}

/**
 * swish(x) = x * sigmoid(x); serializable as `EdgeDmpSwish` (one fused kernel on wasm).
 * @example const y = new Swish({ name: 'stem_act' }).apply(x);
 */
export class Swish extends tf.layers.Layer {
  static className = 'EdgeDmpSwish';

  constructor(args: { name?: string; trainable?: boolean } = {}) {
    super({ name: args.name, trainable: args.trainable });
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = single(inputs);
    if (fastKernel(SWISH) && x.dtype === 'float32') return swish(x);
    return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  }
}

/** BatchNorm layer classes the converter and tools treat alike (ours and tfjs's stock one). */
export const BATCH_NORM_CLASSES: readonly string[] = ['BatchNormalization', BatchNorm.className];

/**
 * Whether a layer is a batch normalization (ours or a stock one in an older saved model).
 * @example model.layers.filter(isBatchNorm)
 */
export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return BATCH_NORM_CLASSES.includes(layer.getClassName());
}

tf.serialization.registerClass(BatchNorm);
tf.serialization.registerClass(Swish);
