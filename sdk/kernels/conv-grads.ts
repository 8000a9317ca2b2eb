/**
 * Gradient kernels the tfjs `wasm` backend lacks (tfjs 4.22): Conv2DBackpropFilter,
 * DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput, plus a faster
 * Conv2DBackpropInput; NHWC float32.
 *
 * Conv gradients are matrix products over the NHWC rows (x^T . dy for the filter, dy . W^T for the
 * input, with im2col / col2im when the kernel is not 1x1); depthwise gradients are loops over the
 * contiguous channel axis. Both run as SIMD WebAssembly (simd.ts) where available; without it,
 * the matrix products go to the backend's XNNPACK BatchMatMul and the loops run in JS.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ConfigError } from '@edge-dmp/core';
import { f32, offsetOf, release, reshapeWasm, runWasm, type TensorInfo } from './wasm-backend.js';
import { SUM_CHUNK_ROWS, chunkedSum, simdKernels } from './simd.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function nhwcOnly(dataFormat: string | undefined, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new ConfigError({ field: `${kernel}.dataFormat`, expected: 'NHWC', received: dataFormat });
  }
}

/**
 * dW[r, c, i, o] = sum over (b, y, x) of x[b, y*sh + r - top, x*sw + c - left, i] * dy[b, y, x, o].
 *
 * @example
 * tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilterWasm });
 */
export function conv2DBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
  };
  nhwcOnly(attrs.dataFormat, 'Conv2DBackpropFilter');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { filterHeight: kh, filterWidth: kw, inChannels: cin, outChannels: cout } = info;
  const m = info.batchSize * info.outHeight * info.outWidth;
  const k = kh * kw * cin;
  const direct =
    kh === 1 &&
    kw === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0;
  const simd = simdKernels(backend);
  if (simd) {
    // A^T . B straight from the NHWC rows: no transposed copy and no XNNPACK weight packing of dy.
    const out = backend.makeOutput([...attrs.filterShape], 'float32');
    let cols = x;
    if (!direct) {
      cols = backend.makeOutput([m, k], 'float32');
      im2col(f32(backend, x), f32(backend, cols), info);
    }
    const [pa, pb, po] = [cols, dy, out].map((t) => offsetOf(backend, t));
    const total = chunkedSum(
      m,
      k * cout,
      () => f32(backend, out),
      (r0, n) => simd.matmul_tn(pa + r0 * k * 4, pb + r0 * cout * 4, po, n, k, cout),
    );
    f32(backend, out).set(total);
    if (!direct) release(backend, cols);
    return out;
  }
  const dy2 = reshapeWasm(backend, dy, [m, cout]);
  let cols: TensorInfo;
  if (direct) {
    // A 1x1 stride-1 conv is a matrix product over the flattened positions.
    cols = reshapeWasm(backend, x, [m, cin]);
  } else {
    cols = backend.makeOutput([m, k], 'float32');
    im2col(f32(backend, x), f32(backend, cols), info);
  }
  const out = matMulTransposedA(backend, cols, dy2);
  release(backend, cols, dy2);
  out.shape = [...attrs.filterShape];
  return out;
}

/**
 * a^T . b for a [m, k], b [m, n]. The backend's transposed BatchMatMul is a slow loop while the
 * plain one runs XNNPACK, so transpose the narrower operand and, when that was b, the small result.
 */
function matMulTransposedA(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  const [, k] = a.shape;
  const [, n] = b.shape;
  if (k <= n) {
    const at = transpose2d(backend, a);
    const out = runWasm(backend, 'BatchMatMul', { a: at, b }, { transposeA: false, transposeB: false });
    release(backend, at);
    return out;
  }
  const bt = transpose2d(backend, b);
  const prod = runWasm(backend, 'BatchMatMul', { a: bt, b: a }, { transposeA: false, transposeB: false });
  const p2 = reshapeWasm(backend, prod, [n, k]);
  const out = transpose2d(backend, p2);
  release(backend, bt, prod, p2);
  return out;
}

/** [r, c] -> [c, r] in cache-sized tiles (the backend's Transpose is several times slower here). */
function transpose2d(backend: BackendWasm, t: TensorInfo): TensorInfo {
  const [r, c] = t.shape;
  const out = backend.makeOutput([c, r], 'float32');
  const src = f32(backend, t);
  const dst = f32(backend, out);
  const T = 32;
  for (let i0 = 0; i0 < r; i0 += T) {
    const i1 = Math.min(r, i0 + T);
    for (let j0 = 0; j0 < c; j0 += T) {
      const j1 = Math.min(c, j0 + T);
      for (let i = i0; i < i1; i++) {
        const row = i * c;
        for (let j = j0; j < j1; j++) dst[j * r + i] = src[row + j];
      }
    }
  }
  return out;
}

/** Up to this many positions the SIMD A.B^T kernel beats transpose + XNNPACK (measured on B0 shapes). */
const NT_MAX_ROWS = 256;

let stockConv2DBackpropInput: tf.KernelConfig['kernelFunc'] | undefined;

/** Keeps the backend's own Conv2DBackpropInput for the shapes the fast path does not cover. */
export function keepStockConv2DBackpropInput(): void {
  stockConv2DBackpropInput ??= tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc;
}

/**
 * dx = dy . W^T for 1x1 stride-1 convs (the backend's kernel is a scalar loop, ~20x slower than
 * its XNNPACK matrix product); other shapes go to the stock kernel.
 */
export function conv2DBackpropInputWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: Rounding;
    inputShape: Shape4;
  };
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const direct =
    (attrs.dataFormat ?? 'NHWC') === 'NHWC' &&
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0;
  const simd = simdKernels(backend);
  if (!direct && simd && (attrs.dataFormat ?? 'NHWC') === 'NHWC') {
    // dcols = dy . W^T ([positions, kh*kw*cin]), then scatter-add the patches back (col2im).
    const m = info.batchSize * info.outHeight * info.outWidth;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const out = backend.makeOutput([...attrs.inputShape], 'float32');
    const dcols = backend.makeOutput([m, k], 'float32');
    simd.matmul_nt(
      offsetOf(backend, dy),
      offsetOf(backend, filter),
      offsetOf(backend, dcols),
      m,
      k,
      info.outChannels,
    );
    col2im(f32(backend, dcols), f32(backend, out), info);
    release(backend, dcols);
    return out;
  }
  if (!direct) {
    if (!stockConv2DBackpropInput) throw new Error('stock wasm Conv2DBackpropInput is missing');
    return stockConv2DBackpropInput(args as Parameters<tf.KernelConfig['kernelFunc']>[0]) as TensorInfo;
  }
  const m = info.batchSize * info.outHeight * info.outWidth;
  if (simd && m <= NT_MAX_ROWS) {
    // Few positions (deep layers): dy . W^T straight from W's rows beats transposing W.
    const out = backend.makeOutput([...attrs.inputShape], 'float32');
    simd.matmul_nt(
      offsetOf(backend, dy),
      offsetOf(backend, filter),
      offsetOf(backend, out),
      m,
      info.inChannels,
      info.outChannels,
    );
    return out;
  }
  const dy2 = reshapeWasm(backend, dy, [m, info.outChannels]);
  const w2 = reshapeWasm(backend, filter, [info.inChannels, info.outChannels]);
  const wt = transpose2d(backend, w2);
  const out = runWasm(backend, 'BatchMatMul', { a: dy2, b: wt }, { transposeA: false, transposeB: false });
  release(backend, dy2, w2, wt);
  out.shape = [...attrs.inputShape];
  return out;
}

/** Patches of x as rows [b*outH*outW, kh*kw*cin], zero where the window leaves the image. */
function im2col(x: Float32Array, cols: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels: cin,
    outHeight,
    outWidth,
    filterHeight: kh,
    filterWidth: kw,
  } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const k = kh * kw * cin;
  let row = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * inWidth * cin;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, row++) {
        let o = row * k;
        for (let r = 0; r < kh; r++) {
          const iy = oy * sh + r * dh - top;
          for (let c = 0; c < kw; c++, o += cin) {
            const ix = ox * sw + c * dw - left;
            if (iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth) {
              for (let i = 0; i < cin; i++) cols[o + i] = 0;
            } else {
              const s = xb + (iy * inWidth + ix) * cin;
              for (let i = 0; i < cin; i++) cols[o + i] = x[s + i];
            }
          }
        }
      }
    }
  }
}

/** Adds patch rows [b*outH*outW, kh*kw*cin] back into dx (the adjoint of im2col). */
function col2im(cols: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels: cin,
    outHeight,
    outWidth,
    filterHeight: kh,
    filterWidth: kw,
  } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const k = kh * kw * cin;
  dx.fill(0);
  let row = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * inWidth * cin;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, row++) {
        let o = row * k;
        for (let r = 0; r < kh; r++) {
          const iy = oy * sh + r * dh - top;
          for (let c = 0; c < kw; c++, o += cin) {
            const ix = ox * sw + c * dw - left;
            if (iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth) continue;
            const d = xb + (iy * inWidth + ix) * cin;
            for (let i = 0; i < cin; i++) dx[d + i] += cols[o + i];
          }
        }
      }
    }
  }
}

function depthwiseInfo(
  xShape: Shape4,
  filterShape: Shape4,
  attrs: {
    strides: number | [number, number];
    dilations: number | [number, number];
    pad: Pad;
    dimRoundingMode?: Rounding;
  },
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    'channelsLast',
  );
}

/** Geometry shared by the depthwise loops (JS and SIMD). */
export interface DwGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  mult: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function geometry(info: tf.backend_util.Conv2DInfo): DwGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    channels: info.inChannels,
    mult: info.outChannels / info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/**
 * Visits every (batch element in [b0, b1), output row, filter tap) of a depthwise conv with the run of output columns
 * whose input column is inside the image: f(x element offset, dy element offset, tap, run length).
 * Along the run, x advances by sw pixels and dy by one.
 */
/**
 * The JS fallbacks' window walk: calls `tap` with the offsets of the input pixel (x), the output
 * pixel (dy) and the filter tap (w) for every in-bounds (output pixel, kernel tap) pair.
 */
function forEachWindowTap(g: DwGeometry, tap: (xo: number, yo: number, wo: number) => void): void {
  const cm = g.channels * g.mult;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let r = 0; r < g.kh; r++) {
        const iy = oy * g.sh + r * g.dh - g.top;
        if (iy < 0 || iy >= g.inH) continue;
        for (let ox = 0; ox < g.outW; ox++) {
          const yo = ((b * g.outH + oy) * g.outW + ox) * cm;
          for (let c = 0; c < g.kw; c++) {
            const ix = ox * g.sw + c * g.dw - g.left;
            if (ix < 0 || ix >= g.inW) continue;
            tap(((b * g.inH + iy) * g.inW + ix) * g.channels, yo, (r * g.kw + c) * cm);
          }
        }
      }
    }
  }
}

function depthwiseTaps(
  g: DwGeometry,
  b0: number,
  b1: number,
  f: (xOff: number, yOff: number, tap: number, rows: number) => void,
): void {
  const c = g.channels;
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let r = 0; r < g.kh; r++) {
        const iy = oy * g.sh + r * g.dh - g.top;
        if (iy < 0 || iy >= g.inH) continue;
        for (let k = 0; k < g.kw; k++) {
          const shift = k * g.dw - g.left; // ix = ox * sw + shift
          const ox0 = Math.max(0, Math.ceil(-shift / g.sw));
          const ox1 = Math.min(g.outW, Math.floor((g.inW - 1 - shift) / g.sw) + 1);
          if (ox1 <= ox0) continue;
          const xOff = ((b * g.inH + iy) * g.inW + ox0 * g.sw + shift) * c;
          const yOff = ((b * g.outH + oy) * g.outW + ox0) * c;
          f(xOff, yOff, r * g.kw + k, ox1 - ox0);
        }
      }
    }
  }
}

/** chunkedSum over batch elements, SUM_CHUNK_ROWS output positions (at least one element) per chunk. */
function chunkedBatches(
  g: DwGeometry,
  view: () => Float32Array,
  f: (b0: number, b1: number) => void,
): Float64Array {
  const per = Math.max(1, Math.floor(SUM_CHUNK_ROWS / (g.outH * g.outW)));
  const chunks = Math.ceil(g.batch / per);
  return chunkedSum(chunks * SUM_CHUNK_ROWS, view().length, view, (r0) => {
    const b0 = (r0 / SUM_CHUNK_ROWS) * per;
    f(b0, Math.min(g.batch, b0 + per));
  });
}

/** dW[r, c, d, q] = sum over (b, y, x) of x[b, y*sh + r*dh - top, x*sw + c*dw - left, d] * dy[b, y, x, d*mult + q]. */
export function depthwiseBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    dilations: number | [number, number];
    pad: Pad;
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
  };
  const g = geometry(depthwiseInfo(x.shape as Shape4, attrs.filterShape, attrs));
  const out = backend.makeOutput([...attrs.filterShape], 'float32');
  const simd = simdKernels(backend);
  if (simd && g.mult === 1) {
    // A few batch elements (>= SUM_CHUNK_ROWS output positions) at a time into `out`, summed in float64.
    const [px, py, po] = [x, dy, out].map((t) => offsetOf(backend, t));
    const total = chunkedBatches(
      g,
      () => f32(backend, out),
      (b0, b1) =>
        depthwiseTaps(g, b0, b1, (xOff, yOff, tap, rows) =>
          simd.row_dot_acc(
            px + xOff * 4,
            g.sw * g.channels * 4,
            py + yOff * 4,
            g.channels * 4,
            po + tap * g.channels * 4,
            rows,
            g.channels,
          ),
        ),
    );
    f32(backend, out).set(total);
    return out;
  }
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const acc = new Float64Array(g.kh * g.kw * g.channels * g.mult);
  const cm = g.channels * g.mult;
  forEachWindowTap(g, (xo, yo, wo) => {
    if (g.mult === 1) {
      for (let d = 0; d < cm; d++) acc[wo + d] += xv[xo + d] * dyv[yo + d];
    } else {
      for (let d = 0; d < g.channels; d++) {
        const xval = xv[xo + d];
        for (let q = 0; q < g.mult; q++) acc[wo + d * g.mult + q] += xval * dyv[yo + d * g.mult + q];
      }
    }
  });
  f32(backend, out).set(acc);
  return out;
}

/** dx[b, iy, ix, d] = sum of dy[b, y, x, d*mult + q] * w[r, c, d, q] over the windows covering (iy, ix). */
export function depthwiseBackpropInputWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: number | [number, number];
    dilations: number | [number, number];
    pad: Pad;
    dimRoundingMode?: Rounding;
    inputShape: Shape4;
  };
  const g = geometry(depthwiseInfo(attrs.inputShape, filter.shape as Shape4, attrs));
  const out = backend.makeOutput([...attrs.inputShape], 'float32');
  const simd = simdKernels(backend);
  if (simd && g.mult === 1) {
    f32(backend, out).fill(0);
    depthwiseTaps(g, 0, g.batch, (xOff, yOff, tap, rows) =>
      simd.row_axpy(
        offsetOf(backend, dy) + yOff * 4,
        g.channels * 4,
        offsetOf(backend, out) + xOff * 4,
        g.sw * g.channels * 4,
        offsetOf(backend, filter) + tap * g.channels * 4,
        rows,
        g.channels,
      ),
    );
    return out;
  }
  const dyv = f32(backend, dy);
  const wv = f32(backend, filter);
  const dx = f32(backend, out);
  dx.fill(0);
  const cm = g.channels * g.mult;
  forEachWindowTap(g, (xo, yo, wo) => {
    if (g.mult === 1) {
      for (let d = 0; d < cm; d++) dx[xo + d] += dyv[yo + d] * wv[wo + d];
    } else {
      for (let d = 0; d < g.channels; d++) {
        let s = 0;
        for (let q = 0; q < g.mult; q++) s += dyv[yo + d * g.mult + q] * wv[wo + d * g.mult + q];
        dx[xo + d] += s;
      }
    }
  });
  return out;
}
