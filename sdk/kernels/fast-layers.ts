/**
 * Routes tfjs-layers' BatchNormalization (training mode), the `swish` activation and the paper's
 * ChannelDuplicate / ChannelMaxPool through the fused ops of batchnorm.ts, swish.ts and channel.ts
 * while the active backend is `wasm`. The layer classes,
 * their configs and saved models are unchanged; other backends and inference keep tfjs's code.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormTraining } from './batchnorm.js';
import { swish } from './swish.js';
import { ChannelDuplicate, ChannelMaxPool } from '../layers.js';
import { channelDuplicateFast, channelMaxPoolFast } from './channel.js';

/** The fields of tfjs-layers' BatchNormalization this patch reads (public in JS, private in .d.ts). */
interface BatchNormInternals {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(v: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(v: tf.Tensor): void };
}

type CallFn = (
  this: unknown,
  inputs: tf.Tensor | tf.Tensor[],
  kwargs: Record<string, unknown>,
) => tf.Tensor | tf.Tensor[];
type ApplyFn = (this: unknown, x: tf.Tensor, alpha?: number) => tf.Tensor;

let installed = false;

function fastBackend(): boolean {
  return tf.getBackend() === 'wasm';
}

/** Same update as tfjs-layers: moving = moving - (moving - value) * (1 - momentum). */
function movingAverage(v: BatchNormInternals['movingMean'], value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const orig = v.read();
    v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
  });
}

/** Installs the fast paths once; returns whether they are in place. */
export function installFastLayers(): boolean {
  if (installed) return true;
  const bnProto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: CallFn };
  const swishEntry = tf.serialization.SerializationMap.getMap().classNameMap['swish'] as unknown as
    [new () => { apply: ApplyFn }, unknown] | undefined;
  if (typeof bnProto.call !== 'function' || !swishEntry) return false;

  const stockCall = bnProto.call;
  bnProto.call = function (this: unknown, inputs, kwargs) {
    const self = this as BatchNormInternals;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = self.axis >= 0 ? self.axis : self.axis + x.rank;
    if (!fastBackend() || kwargs?.['training'] !== true || axis !== x.rank - 1 || !self.gamma || !self.beta) {
      return stockCall.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTraining(x, self.gamma!.read(), self.beta!.read(), self.epsilon);
      movingAverage(self.movingMean, mean, self.momentum);
      movingAverage(self.movingVariance, variance, self.momentum);
      return y;
    });
  };

  const swishProto = swishEntry[0].prototype;
  const stockApply = swishProto.apply;
  swishProto.apply = function (this: unknown, x: tf.Tensor, alpha = 1) {
    if (!fastBackend() || alpha !== 1 || x.dtype !== 'float32') return stockApply.call(this, x, alpha);
    return swish(x);
  };
  patchChannelLayer(ChannelDuplicate.prototype, channelDuplicateFast);
  patchChannelLayer(ChannelMaxPool.prototype, channelMaxPoolFast);
  installed = true;
  return true;
}

function patchChannelLayer(
  proto: { call: CallFn },
  fast: (x: tf.Tensor, t: number, order: string) => tf.Tensor,
): void {
  const stock = proto.call;
  proto.call = function (this: unknown, inputs, kwargs) {
    const self = this as { t: number; order: string };
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!fastBackend() || self.t === 1 || x.dtype !== 'float32') return stock.call(this, inputs, kwargs);
    return fast(x, self.t, self.order);
  };
}
