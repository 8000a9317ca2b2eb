/**
 * Swish (x * sigmoid(x)) with a one-pass backward. tfjs-layers builds swish from Mul, Sigmoid
 * and Mul, whose backward is ~7 full-size passes; here the forward reuses the backend's SIMD
 * Sigmoid and Multiply and keeps sigmoid(x) for the backward:
 *   dx = dy * s * (1 + x * (1 - s)).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32, offsetOf, runWasm, type TensorInfo } from './wasm-backend.js';
import { simdKernels } from './simd.js';

export const SWISH = 'EdmpSwish';
export const SWISH_GRAD = 'EdmpSwishGrad';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}

/** Inputs {x}; outputs [y, sigmoid(x)]. */
export function swishWasm({ inputs, backend: b }: KernelArgs): TensorInfo[] {
  const backend = b as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  const s = runWasm(backend, 'Sigmoid', { x });
  const y = runWasm(backend, 'Multiply', { a: x, b: s });
  return [y, s];
}

/** Inputs {dy, x, s}; output dx. */
export function swishGradWasm({ inputs, backend: b }: KernelArgs): TensorInfo {
  const backend = b as BackendWasm;
  const { dy, x, s } = inputs as Record<string, TensorInfo>;
  const dx = backend.makeOutput([...x.shape], 'float32');
  const simd = simdKernels(backend);
  if (simd) {
    const n = f32(backend, dx).length;
    const [a, b, c, d] = [dy, x, s, dx].map((t) => offsetOf(backend, t));
    simd.swish_grad(a, 0, b, 0, c, 0, d, 0, 1, n);
    return dx;
  }
  const dyv = f32(backend, dy);
  const xv = f32(backend, x);
  const sv = f32(backend, s);
  const out = f32(backend, dx);
  for (let i = 0; i < out.length; i++) {
    const si = sv[i];
    out[i] = dyv[i] * si * (1 + xv[i] * (1 - si));
  }
  return dx;
}

export const swishGrad: tf.GradConfig = {
  kernelName: SWISH,
  inputsToSave: ['x'],
  outputsToSave: [false, true],
  gradFunc: (dy, saved) => {
    const [x, s] = saved;
    const g = Array.isArray(dy) ? dy[0] : dy;
    return { x: () => tf.engine().runKernel(SWISH_GRAD, { dy: g, x, s }) as tf.Tensor };
  },
};

/**
 * x * sigmoid(x) as one op with a fused backward.
 *
 * @example
 * const y = swish(tf.tensor1d([-1, 0, 1]));
 */
export function swish(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => (tf.engine().runKernel(SWISH, { x }) as tf.Tensor[])[0]);
}
