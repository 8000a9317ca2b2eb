/**
 * Adam as one kernel per variable on `wasm`. tf.train.adam runs ~12 element-wise kernels per
 * variable and step (B0: ~2,500 kernel calls per step); this runs one SIMD pass producing the new
 * weight and both moments. The optimizer that calls it is sdk/train/adam.ts (EdgeDmpAdam).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32, offsetOf, release, type TensorInfo } from './wasm-backend.js';
import { simdKernels } from './simd.js';

export const ADAM = 'EdmpAdam';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}

/** Inputs {w, m, v, g}; attrs {beta1, beta2, epsilon, lr, c1, c2} (c = 1 - beta^t); outputs [w', m', v']. */
export function adamWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo[] {
  const backend = b as BackendWasm;
  const { w, m, v, g } = inputs as Record<string, TensorInfo>;
  const { beta1, beta2, epsilon, lr, c1, c2 } = attrs as Record<string, number>;
  const wo = backend.makeOutput([...w.shape], 'float32');
  const mo = backend.makeOutput([...w.shape], 'float32');
  const vo = backend.makeOutput([...w.shape], 'float32');
  const k = [beta1, 1 - beta1, beta2, 1 - beta2, lr / c1, 1 / c2, epsilon];
  const simd = simdKernels(backend);
  const n = f32(backend, wo).length;
  if (simd) {
    const kt = backend.makeOutput([k.length], 'float32');
    f32(backend, kt).set(k);
    const p = [w, m, v, g, wo, mo, vo].map((t) => offsetOf(backend, t));
    simd.adam(p[0], 0, p[1], 0, p[2], 0, p[3], 0, p[4], 0, p[5], 0, p[6], 0, offsetOf(backend, kt), 1, n);
    release(backend, kt);
    return [wo, mo, vo];
  }
  const [wv, mv, vv, gv, wov, mov, vov] = [w, m, v, g, wo, mo, vo].map((t) => f32(backend, t));
  for (let i = 0; i < n; i++) {
    const mi = (mov[i] = k[0] * mv[i] + k[1] * gv[i]);
    const vi = (vov[i] = k[2] * vv[i] + k[3] * gv[i] * gv[i]);
    wov[i] = wv[i] - (k[4] * mi) / (Math.sqrt(k[5] * vi) + k[6]);
  }
  return [wo, mo, vo];
}
