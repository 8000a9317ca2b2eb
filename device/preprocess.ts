/**
 * Device-side preprocessing: decoded pixels -> the model's input tensor, per the shared
 * `PreprocessSpec` (sdk/preprocess.ts): resize (stretch / center-crop / letterbox) and colour
 * with sharp, then (pixel*scale - mean)/std in JS, then quantize for int8/uint8 inputs.
 */
import sharp from 'sharp';
import { ConfigError, type PreprocessSpec, type ResizeMode } from '@edge-dmp/core';
import type { Pixels } from './frame.js';

/** The parts of a runtime tensor description preprocessing needs (same shape as tflite-runtime's TensorSpec). */
export interface InputTensorSpec {
  name?: string;
  shape: number[];
  dtype: 'float32' | 'int8' | 'uint8' | 'int32';
  quantization?: { scale: number; zeroPoint: number };
}

/** sharp `fit` for each resize mode; letterbox pads with black. */
const FIT: Record<ResizeMode, 'fill' | 'cover' | 'contain'> = {
  stretch: 'fill',
  'center-crop': 'cover',
  letterbox: 'contain',
};

/** Integer ranges of quantized input types. */
const QRANGE: Record<string, [number, number]> = { int8: [-128, 127], uint8: [0, 255] };

/**
 * Checks a spec field by field (it may come from a bundle manifest or CLI flags).
 * @example validatePreprocess(defaultPreprocess([28, 28], 1));
 */
export function validatePreprocess(spec: PreprocessSpec, field = 'preprocessing'): PreprocessSpec {
  const [h, w] = spec.inputSize ?? [];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0) {
    throw new ConfigError({
      field: `${field}.inputSize`,
      expected: '[height, width], positive integers',
      received: spec.inputSize,
    });
  }
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new ConfigError({ field: `${field}.channels`, expected: '1 or 3', received: spec.channels });
  }
  if (!Number.isFinite(spec.scale) || spec.scale === 0) {
    throw new ConfigError({
      field: `${field}.scale`,
      expected: 'a finite non-zero number',
      received: spec.scale,
    });
  }
  for (const k of ['mean', 'std'] as const) {
    const v = spec[k];
    if (
      !Array.isArray(v) ||
      v.length !== spec.channels ||
      v.some((x) => !Number.isFinite(x) || (k === 'std' && x === 0))
    ) {
      throw new ConfigError({
        field: `${field}.${k}`,
        expected: `${spec.channels} finite number(s)${k === 'std' ? ', non-zero' : ''}`,
        received: v,
      });
    }
  }
  if (!(spec.resize in FIT)) {
    throw new ConfigError({
      field: `${field}.resize`,
      expected: Object.keys(FIT).join(' | '),
      received: spec.resize,
    });
  }
  if (spec.channelOrder !== 'rgb' && spec.channelOrder !== 'bgr') {
    throw new ConfigError({
      field: `${field}.channelOrder`,
      expected: 'rgb | bgr',
      received: spec.channelOrder,
    });
  }
  if (spec.layout !== undefined && spec.layout !== 'NHWC') {
    throw new ConfigError({ field: `${field}.layout`, expected: 'NHWC', received: spec.layout });
  }
  return spec;
}

/**
 * Checks that a model input can take images made by `spec`: [1,H,W,C] or, for grayscale, [1,H,W].
 * @example checkInputMatches(spec, model.inputs[0]);
 */
export function checkInputMatches(spec: PreprocessSpec, input: InputTensorSpec): void {
  const [h, w] = spec.inputSize;
  const shape = input.shape;
  const ok =
    (shape.length === 4 &&
      shape[0] === 1 &&
      shape[1] === h &&
      shape[2] === w &&
      shape[3] === spec.channels) ||
    (shape.length === 3 && spec.channels === 1 && shape[0] === 1 && shape[1] === h && shape[2] === w);
  if (!ok) {
    throw new ConfigError({
      field: 'preprocessing.inputSize',
      expected: `a model input of [1,${h},${w},${spec.channels}]${spec.channels === 1 ? ` or [1,${h},${w}]` : ''}`,
      received: `input ${input.name ?? 0} shape [${shape.join(',')}]`,
    });
  }
  if (!(input.dtype === 'float32' || input.dtype in QRANGE)) {
    throw new ConfigError({
      field: `input ${input.name ?? 0} dtype`,
      expected: 'float32, int8 or uint8',
      received: input.dtype,
    });
  }
  if (input.dtype in QRANGE) {
    const q = input.quantization;
    if (!q || !Number.isFinite(q.scale) || q.scale <= 0) {
      throw new ConfigError({
        field: `input ${input.name ?? 0} quantization`,
        expected: 'a positive scale for a quantized input',
        received: q,
      });
    }
  }
}

/**
 * Resizes and converts decoded pixels to the spec's size and channel count; returns HWC uint8.
 * @example const hwc = await resizePixels(px, spec); // hwc.length === H*W*C
 */
export async function resizePixels(px: Pixels, spec: PreprocessSpec): Promise<Buffer> {
  const [h, w] = spec.inputSize;
  let img = sharp(px.data, { raw: { width: px.width, height: px.height, channels: px.channels } });
  if (px.width !== w || px.height !== h) {
    img = img.resize(w, h, {
      fit: FIT[spec.resize],
      position: 'centre',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    });
  }
  if (px.channels === 4) img = img.removeAlpha();
  img = img.toColourspace(spec.channels === 1 ? 'b-w' : 'srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== spec.channels || info.width !== w || info.height !== h) {
    // sharp keeps 1 channel for a gray source with srgb on some paths: expand here.
    if (info.channels === 1 && spec.channels === 3) {
      const out = Buffer.allocUnsafe(w * h * 3);
      for (let i = 0; i < w * h; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = data[i];
      return out;
    }
    throw new ConfigError({
      field: 'preprocessing',
      expected: `${w}x${h}x${spec.channels} after resize`,
      received: `${info.width}x${info.height}x${info.channels}`,
    });
  }
  return data;
}

/**
 * HWC uint8 pixels -> the model input typed array: (p*scale - mean)/std in the spec's channel
 * order, then q = round(x/scale_q + zero_point) clamped for int8/uint8 inputs.
 * @example const x = toInputTensor(hwc, spec, model.inputs[0]); // Float32Array or Int8Array
 */
export function toInputTensor(
  hwc: Uint8Array,
  spec: PreprocessSpec,
  input: InputTensorSpec,
): Float32Array | Int8Array | Uint8Array {
  const c = spec.channels;
  const n = hwc.length / c;
  // Fold scale, mean and std into one multiply-add per channel.
  const mul = spec.std.map((s) => spec.scale / s);
  const add = spec.mean.map((m, i) => -m / spec.std[i]);
  const src = spec.channelOrder === 'bgr' && c === 3 ? [2, 1, 0] : [0, 1, 2];
  const range = QRANGE[input.dtype];
  if (!range) {
    const out = new Float32Array(n * c);
    for (let p = 0; p < n; p++) {
      for (let k = 0; k < c; k++) out[p * c + k] = hwc[p * c + src[k]] * mul[k] + add[k];
    }
    return out;
  }
  const q = input.quantization!;
  const out = input.dtype === 'int8' ? new Int8Array(n * c) : new Uint8Array(n * c);
  const [lo, hi] = range;
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < c; k++) {
      const x = hwc[p * c + src[k]] * mul[k] + add[k];
      const v = Math.round(x / q.scale + q.zeroPoint);
      out[p * c + k] = v < lo ? lo : v > hi ? hi : v;
    }
  }
  return out;
}
