/**
 * Fused kernels for the paper's parameter-free layers (sdk/layers.ts) on `wasm`: the stock
 * composition (rank-3 Tile for Duplicate; Max + broadcast Equal + Cast + Mul for the max-pool
 * backward) costs more than the 1x1 convs it replaces. Same semantics, channels last:
 *   interleave: copy j of channel c sits at c*t + j, pool group g is {g*t .. g*t + t-1};
 *   tile:       copy j of channel c sits at j*C + c, pool group g is {g, g+G, .., g+(t-1)G}.
 * Max-pool ties share the gradient, as in tfjs' max.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32, type TensorInfo } from './wasm-backend.js';

export const DUPLICATE = 'EdmpChannelDuplicate';
export const DUPLICATE_GRAD = 'EdmpChannelDuplicateGrad';
export const MAXPOOL = 'EdmpChannelMaxPool';
export const MAXPOOL_GRAD = 'EdmpChannelMaxPoolGrad';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}

/** Inputs {x [.., C]}, attrs {t, order}; output [.., C*t]. */
export function duplicateWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = b as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  const t = attrs.t as number;
  const c = x.shape[x.shape.length - 1];
  const out = backend.makeOutput([...x.shape.slice(0, -1), c * t], 'float32');
  const xv = f32(backend, x);
  const ov = f32(backend, out);
  const ct = c * t;
  if (attrs.order === 'tile') {
    for (let p = 0, i = 0; i < xv.length; p += ct, i += c) {
      const row = xv.subarray(i, i + c);
      for (let j = 0; j < t; j++) ov.set(row, p + j * c);
    }
  } else {
    for (let p = 0, i = 0; i < xv.length; i++) {
      const v = xv[i];
      for (let j = 0; j < t; j++) ov[p++] = v;
    }
  }
  return out;
}

/** Inputs {dy [.., C*t]}, attrs {t, order}; output [.., C]: the sum over each channel's copies. */
export function duplicateGradWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = b as BackendWasm;
  const { dy } = inputs as { dy: TensorInfo };
  const t = attrs.t as number;
  const ct = dy.shape[dy.shape.length - 1];
  const c = ct / t;
  const out = backend.makeOutput([...dy.shape.slice(0, -1), c], 'float32');
  const gv = f32(backend, dy);
  const ov = f32(backend, out);
  if (attrs.order === 'tile') {
    for (let p = 0, i = 0; p < gv.length; p += ct, i += c) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let j = 0; j < t; j++) s += gv[p + j * c + k];
        ov[i + k] = s;
      }
    }
  } else {
    for (let p = 0, i = 0; i < ov.length; i++) {
      let s = 0;
      for (let j = 0; j < t; j++) s += gv[p++];
      ov[i] = s;
    }
  }
  return out;
}

/** Inputs {x [.., G*t]}, attrs {t, order}; output [.., G]. */
export function maxPoolWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = b as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  const t = attrs.t as number;
  const ct = x.shape[x.shape.length - 1];
  const g = ct / t;
  const out = backend.makeOutput([...x.shape.slice(0, -1), g], 'float32');
  const xv = f32(backend, x);
  const ov = f32(backend, out);
  // Group member j of group k: interleave k*t + j, tile j*g + k.
  const [gs, js] = attrs.order === 'tile' ? [1, g] : [t, 1];
  for (let p = 0, o = 0; p < xv.length; p += ct) {
    for (let k = 0; k < g; k++, o++) {
      const base = p + k * gs;
      let m = xv[base];
      for (let j = 1; j < t; j++) {
        const v = xv[base + j * js];
        if (v > m) m = v;
      }
      ov[o] = m;
    }
  }
  return out;
}

/** Inputs {dy [.., G], x [.., G*t], y [.., G]}, attrs {t, order}; output dx: dy where x == y, else 0. */
export function maxPoolGradWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = b as BackendWasm;
  const { dy, x, y } = inputs as Record<string, TensorInfo>;
  const t = attrs.t as number;
  const ct = x.shape[x.shape.length - 1];
  const g = ct / t;
  const out = backend.makeOutput([...x.shape], 'float32');
  const xv = f32(backend, x);
  const yv = f32(backend, y);
  const gv = f32(backend, dy);
  const ov = f32(backend, out);
  const [gs, js] = attrs.order === 'tile' ? [1, g] : [t, 1];
  for (let p = 0, o = 0; p < xv.length; p += ct) {
    for (let k = 0; k < g; k++, o++) {
      const base = p + k * gs;
      const m = yv[o];
      const d = gv[o];
      for (let j = 0; j < t; j++) {
        const i = base + j * js;
        ov[i] = xv[i] === m ? d : 0;
      }
    }
  }
  return out;
}

export const duplicateGrad: tf.GradConfig = {
  kernelName: DUPLICATE,
  gradFunc: (dy, _saved, attrs) => ({
    x: () =>
      tf.engine().runKernel(DUPLICATE_GRAD, { dy: dy as tf.Tensor }, attrs as tf.NamedAttrMap) as tf.Tensor,
  }),
};

export const maxPoolGrad: tf.GradConfig = {
  kernelName: MAXPOOL,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved;
    return {
      x: () =>
        tf
          .engine()
          .runKernel(MAXPOOL_GRAD, { dy: dy as tf.Tensor, x, y }, attrs as tf.NamedAttrMap) as tf.Tensor,
    };
  },
};

/**
 * Channel duplicate as one kernel ([.., C] -> [.., C*t]).
 *
 * @example
 * channelDuplicateFast(tf.ones([1, 2, 2, 3]), 6, 'interleave').shape // [1, 2, 2, 18]
 */
export function channelDuplicateFast(x: tf.Tensor, t: number, order: string): tf.Tensor {
  return tf.engine().runKernel(DUPLICATE, { x }, { t, order }) as tf.Tensor;
}

/**
 * Channel max-pool as one kernel ([.., G*t] -> [.., G]).
 *
 * @example
 * channelMaxPoolFast(tf.ones([1, 2, 2, 18]), 6, 'interleave').shape // [1, 2, 2, 3]
 */
export function channelMaxPoolFast(x: tf.Tensor, t: number, order: string): tf.Tensor {
  return tf.engine().runKernel(MAXPOOL, { x }, { t, order }) as tf.Tensor;
}
