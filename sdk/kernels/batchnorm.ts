/**
 * BatchNorm in training mode as two kernels (forward with batch statistics, backward with the
 * closed-form gradient) instead of tfjs's moments + batchNorm graph, whose backward runs ~20
 * full-size element-wise passes (and a Tile) per layer. Channels last, any rank, float32.
 *
 *   forward:  mean, var = moments over all axes but the last; y = (x - mean) * gamma / sqrt(var + eps) + beta
 *   backward: dbeta = sum(dy); dgamma = sum(dy * xhat);
 *             dx = gamma * rstd * (dy - dbeta / n - xhat * dgamma / n)
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32, offsetOf, release, type TensorInfo } from './wasm-backend.js';
import { chunkedSum, simdKernels } from './simd.js';

export const BN_TRAIN = 'EdmpBatchNormTrain';
export const BN_TRAIN_GRAD = 'EdmpBatchNormTrainGrad';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}

/** Inputs {x, gamma, beta}, attrs {epsilon}; outputs [y, mean, variance] (biased variance, as tfjs). */
export function batchNormTrainWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo[] {
  const backend = b as BackendWasm;
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const eps = attrs.epsilon as number;
  const c = x.shape[x.shape.length - 1];
  const y = backend.makeOutput([...x.shape], 'float32');
  const meanOut = backend.makeOutput([c], 'float32');
  const varOut = backend.makeOutput([c], 'float32');
  const simd = simdKernels(backend);
  if (simd) {
    // Two passes (sum, then squared deviations) in float32 SIMD over row chunks summed in float64,
    // then y = x * a + o. Scratch: a, o, one chunk's sums (c each).
    const ab = backend.makeOutput([3 * c], 'float32');
    const rows = f32(backend, x).length / c;
    const [px, py, pm, pab] = [x, y, meanOut, ab].map((t) => offsetOf(backend, t));
    const ps = pab + 2 * c * 4;
    const scratch = () => f32(backend, ab).subarray(2 * c);
    const s1 = chunkedSum(rows, c, scratch, (r0, n) => simd.col_sum(px + r0 * c * 4, c * 4, ps, n, c));
    const mv = f32(backend, meanOut);
    for (let j = 0; j < c; j++) mv[j] = s1[j] / rows;
    const s2 = chunkedSum(rows, c, scratch, (r0, n) => simd.col_sq_dev(px + r0 * c * 4, c * 4, pm, ps, n, c));
    const vv = f32(backend, varOut);
    const abv = f32(backend, ab);
    const gv = f32(backend, gamma);
    const bv = f32(backend, beta);
    const mv2 = f32(backend, meanOut);
    for (let j = 0; j < c; j++) {
      vv[j] = s2[j] / rows;
      abv[j] = gv[j] / Math.sqrt(vv[j] + eps);
      abv[c + j] = bv[j] - mv2[j] * abv[j];
    }
    simd.affine(px, c * 4, py, c * 4, pab, pab + c * 4, rows, c);
    release(backend, ab);
    return [y, meanOut, varOut];
  }
  const xv = f32(backend, x);
  const n = xv.length / c;
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  // One pass in float64: E[x^2] - E[x]^2 loses nothing measurable for float32 data.
  for (let i = 0; i < xv.length; i += c) {
    for (let j = 0; j < c; j++) {
      const v = xv[i + j];
      s1[j] += v;
      s2[j] += v * v;
    }
  }
  const gv = f32(backend, gamma);
  const bv = f32(backend, beta);
  const mv = f32(backend, meanOut);
  const vv = f32(backend, varOut);
  const a = new Float32Array(c);
  const o = new Float32Array(c);
  for (let j = 0; j < c; j++) {
    const mean = s1[j] / n;
    const variance = Math.max(0, s2[j] / n - mean * mean);
    mv[j] = mean;
    vv[j] = variance;
    a[j] = gv[j] / Math.sqrt(variance + eps);
    o[j] = bv[j] - mean * a[j];
  }
  const yv = f32(backend, y);
  for (let i = 0; i < xv.length; i += c) {
    for (let j = 0; j < c; j++) yv[i + j] = xv[i + j] * a[j] + o[j];
  }
  return [y, meanOut, varOut];
}

/** Inputs {dy, x, gamma, mean, variance}, attrs {epsilon}; outputs [dx, dgamma, dbeta]. */
export function batchNormTrainGradWasm({ inputs, backend: b, attrs }: KernelArgs): TensorInfo[] {
  const backend = b as BackendWasm;
  const { dy, x, gamma, mean, variance } = inputs as Record<string, TensorInfo>;
  const eps = attrs.epsilon as number;
  const c = x.shape[x.shape.length - 1];
  const dx = backend.makeOutput([...x.shape], 'float32');
  const dgamma = backend.makeOutput([c], 'float32');
  const dbeta = backend.makeOutput([c], 'float32');
  const simd = simdKernels(backend);
  if (simd) {
    // scratch: s1, s2, k1, k2, k3 (c each)
    const tmp = backend.makeOutput([5 * c], 'float32');
    const rows = f32(backend, x).length / c;
    const [pdy, px, pdx, pm, pt] = [dy, x, dx, mean, tmp].map((t) => offsetOf(backend, t));
    const sums = chunkedSum(
      rows,
      2 * c,
      () => f32(backend, tmp).subarray(0, 2 * c),
      (r0, n) => simd.bn_grad_sums(pdy + r0 * c * 4, c * 4, px + r0 * c * 4, c * 4, pm, pt, pt + c * 4, n, c),
    );
    const t = f32(backend, tmp);
    const gv = f32(backend, gamma);
    const vv = f32(backend, variance);
    const mv = f32(backend, mean);
    const dgv = f32(backend, dgamma);
    const dbv = f32(backend, dbeta);
    for (let j = 0; j < c; j++) {
      const rstd = 1 / Math.sqrt(vv[j] + eps);
      const [sdy, sdyx] = [sums[j], sums[c + j]];
      dbv[j] = sdy;
      dgv[j] = sdyx * rstd;
      const k1 = gv[j] * rstd;
      const k2 = (-gv[j] * rstd * rstd * rstd * sdyx) / rows;
      t[2 * c + j] = k1;
      t[3 * c + j] = k2;
      t[4 * c + j] = (-k1 * sdy) / rows - k2 * mv[j];
    }
    simd.affine2(pdy, c * 4, px, c * 4, pdx, c * 4, pt + 2 * c * 4, pt + 3 * c * 4, pt + 4 * c * 4, rows, c);
    release(backend, tmp);
    return [dx, dgamma, dbeta];
  }
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const mv = f32(backend, mean);
  const n = xv.length / c;
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c);
  for (let i = 0; i < xv.length; i += c) {
    for (let j = 0; j < c; j++) {
      const g = dyv[i + j];
      sdy[j] += g;
      sdyx[j] += g * (xv[i + j] - mv[j]);
    }
  }
  const gv = f32(backend, gamma);
  const vv = f32(backend, variance);
  const dgv = f32(backend, dgamma);
  const dbv = f32(backend, dbeta);
  // dx = k1 * dy + k2 * x + k3, per channel.
  const k1 = new Float32Array(c);
  const k2 = new Float32Array(c);
  const k3 = new Float32Array(c);
  for (let j = 0; j < c; j++) {
    const rstd = 1 / Math.sqrt(vv[j] + eps);
    dbv[j] = sdy[j];
    dgv[j] = sdyx[j] * rstd;
    k1[j] = gv[j] * rstd;
    k2[j] = (-gv[j] * rstd * rstd * rstd * sdyx[j]) / n;
    k3[j] = (-k1[j] * sdy[j]) / n - k2[j] * mv[j];
  }
  const dxv = f32(backend, dx);
  for (let i = 0; i < xv.length; i += c) {
    for (let j = 0; j < c; j++) dxv[i + j] = k1[j] * dyv[i + j] + k2[j] * xv[i + j] + k3[j];
  }
  return [dx, dgamma, dbeta];
}

/** Gradient of EdmpBatchNormTrain: only y's gradient matters (mean/variance feed moving averages). */
export const batchNormTrainGrad: tf.GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma, mean, variance] = saved;
    const dys = Array.isArray(dy) ? dy : [dy];
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel(
        BN_TRAIN_GRAD,
        { dy: dys[0], x, gamma, mean, variance },
        attrs as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

/**
 * BatchNorm over all axes but the last, with batch statistics, as one fused op.
 *
 * @returns [y, mean, variance]; the caller owns all three.
 * @example
 * const [y, mean, variance] = batchNormTraining(x, gamma, beta, 1e-3);
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): tf.Tensor[] {
  return tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
}
