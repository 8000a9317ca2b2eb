/**
 * The two parameter-free layers of the paper, plus stochastic depth.
 *
 * - `ChannelDuplicate(t)` replaces the 1x1 expansion conv: every input channel is copied t times.
 * - `ChannelMaxPool(t)` replaces the 1x1 projection conv: groups of t channels are reduced by max.
 *
 * Copy order and pool grouping must agree so that every output channel is the max over differently
 * filtered copies of ONE input channel:
 * - `interleave` (default): out[c*t + j] = in[c]; pool groups are t consecutive channels.
 * - `tile`: out[j*C + c] = in[c]; pool group c is {c, c+C, c+2C, ...}.
 *
 * Both layers carry explicit gradients (tf.customGrad) so they train on every backend, including
 * `wasm`, and never depend on tfjs' rank-5 `tile`, which has no gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, oneOf, positiveInt } from '@edge-dmp/core';
import { DUPLICATE, MAXPOOL, channelDuplicateFast, channelMaxPoolFast } from './kernels/channel.js';
import { fastKernel } from './kernels/available.js';

export type ChannelOrder = 'interleave' | 'tile';
export const CHANNEL_ORDERS: readonly ChannelOrder[] = ['interleave', 'tile'];

type Kwargs = Record<string, unknown>;

const checkT = (layer: string, t: unknown): number => positiveInt(`${layer}.t`, t);
const checkOrder = (layer: string, order: unknown): ChannelOrder =>
  oneOf(`${layer}.order`, order ?? 'interleave', CHANNEL_ORDERS);

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

/**
 * Duplicates channels: [N,H,W,C] -> [N,H,W,C*t].
 *
 * Gradient: each input channel receives the sum of the gradients of its t copies.
 *
 * @example
 * const dup = new ChannelDuplicate({ t: 6 });            // interleave order
 * dup.apply(tf.zeros([1, 8, 8, 16])) // -> shape [1, 8, 8, 96]
 */
export function channelDuplicate(x: tf.Tensor4D, t: number, order: ChannelOrder = 'interleave'): tf.Tensor4D {
  if (t === 1) return x.clone();
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inp = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const [n, h, w, c] = inp.shape;
    save([]);
    const value =
      order === 'interleave'
        ? // [NHW, C, 1] tiled to [NHW, C, t]: rank 3 keeps tile's backends happy.
          tf.tile(tf.reshape(inp, [n * h * w, c, 1]), [1, 1, t]).reshape([n, h, w, c * t])
        : tf.tile(inp, [1, 1, 1, t]);
    const gradFunc = (dy: tf.Tensor) => {
      const g =
        order === 'interleave'
          ? tf.sum(tf.reshape(dy, [n * h * w, c, t]), 2)
          : tf.sum(tf.reshape(dy, [n * h * w, t, c]), 1);
      return tf.reshape(g, [n, h, w, c]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * Max over channel groups: [N,H,W,C] -> [N,H,W,C/t].
 *
 * Gradient: routed to the element(s) that held the maximum (ties share it, as tfjs' own `max` does).
 *
 * @example
 * channelMaxPool(tf.zeros([1, 8, 8, 96]) as tf.Tensor4D, 6) // -> shape [1, 8, 8, 16]
 */
export function channelMaxPool(x: tf.Tensor4D, t: number, order: ChannelOrder = 'interleave'): tf.Tensor4D {
  if (t === 1) return x.clone();
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inp = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const [n, h, w, c] = inp.shape;
    const g = c / t;
    // Grouped view: the pooled axis is 2 for interleave, 1 for tile.
    const shape: [number, number, number] = order === 'interleave' ? [n * h * w, g, t] : [n * h * w, t, g];
    const axis = order === 'interleave' ? 2 : 1;
    const grouped = tf.reshape(inp, shape);
    const m = tf.max(grouped, axis, true);
    save([grouped, m]);
    const value = tf.reshape(m, [n, h, w, g]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [gx, gm] = saved;
      const mask = tf.cast(tf.equal(gx, gm), 'float32');
      const dyg = tf.reshape(dy, order === 'interleave' ? [n * h * w, g, 1] : [n * h * w, 1, g]);
      return tf.reshape(tf.mul(mask, dyg), [n, h, w, c]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor4D;
}

export interface ChannelLayerArgs {
  t: number;
  order?: ChannelOrder;
  name?: string;
  trainable?: boolean;
}

/** Layer form of {@link channelDuplicate}; serializable as `ChannelDuplicate`. */
export class ChannelDuplicate extends tf.layers.Layer {
  static className = 'ChannelDuplicate';
  readonly t: number;
  readonly order: ChannelOrder;

  constructor(args: ChannelLayerArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.t = checkT('ChannelDuplicate', args.t);
    this.order = checkOrder('ChannelDuplicate', args.order);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const c = s[s.length - 1];
    return [...s.slice(0, -1), c == null ? null : c * this.t];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = single(inputs);
    // The fused wasm kernel when registered (registerFastKernels), else tf ops with customGrad.
    if (this.t !== 1 && x.dtype === 'float32' && fastKernel(DUPLICATE)) {
      return channelDuplicateFast(x, this.t, this.order);
    }
    return tf.tidy(() => channelDuplicate(x as tf.Tensor4D, this.t, this.order));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), t: this.t, order: this.order };
  }
}

/** Layer form of {@link channelMaxPool}; serializable as `ChannelMaxPool`. */
export class ChannelMaxPool extends tf.layers.Layer {
  static className = 'ChannelMaxPool';
  readonly t: number;
  readonly order: ChannelOrder;

  constructor(args: ChannelLayerArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.t = checkT('ChannelMaxPool', args.t);
    this.order = checkOrder('ChannelMaxPool', args.order);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const c = s[s.length - 1];
    if (c != null && c % this.t !== 0) {
      throw new ConfigError({
        field: `${this.name}.t`,
        expected: `a divisor of the input channel count ${c}`,
        received: this.t,
      });
    }
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const c = s[s.length - 1];
    return [...s.slice(0, -1), c == null ? null : c / this.t];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = single(inputs);
    if (this.t !== 1 && x.dtype === 'float32' && fastKernel(MAXPOOL)) {
      return channelMaxPoolFast(x, this.t, this.order);
    }
    return tf.tidy(() => channelMaxPool(x as tf.Tensor4D, this.t, this.order));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), t: this.t, order: this.order };
  }
}

export interface DropConnectArgs {
  rate: number;
  name?: string;
}

/**
 * Stochastic depth ("drop connect" in EfficientNet): during training, drops the whole residual
 * branch per sample with probability `rate` and rescales survivors; identity at inference.
 *
 * @example
 * new DropConnect({ rate: 0.1 }).apply(branch)
 */
export class DropConnect extends tf.layers.Layer {
  static className = 'DropConnect';
  readonly rate: number;

  constructor(args: DropConnectArgs) {
    super({ name: args.name });
    if (typeof args.rate !== 'number' || !(args.rate >= 0 && args.rate < 1)) {
      throw new ConfigError({
        field: 'DropConnect.rate',
        expected: 'a number in [0, 1)',
        received: args.rate,
      });
    }
    this.rate = args.rate;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = single(inputs);
    if (!kwargs['training'] || this.rate === 0) return x.clone();
    return tf.tidy(() => {
      const keep = 1 - this.rate;
      const shape = [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)];
      const mask = tf.floor(tf.add(tf.randomUniform(shape), keep));
      return tf.mul(x, tf.div(mask, keep));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

tf.serialization.registerClass(ChannelDuplicate);
tf.serialization.registerClass(ChannelMaxPool);
tf.serialization.registerClass(DropConnect);
