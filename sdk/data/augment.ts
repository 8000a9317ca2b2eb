/**
 * Augmentation and resizing in one primitive: sample a (possibly flipped, possibly out-of-bounds)
 * source rectangle into the model's input grid with bilinear interpolation, converting channels
 * and normalising on the way. Random crop with padding, random resized crop, flips and plain
 * resizes are all just choices of rectangle, so there is one inner loop to get right.
 */
import { ConfigError, type PreprocessSpec, type Rng } from '@edge-dmp/core';
import type { RawImage } from './types.js';

/** A source rectangle in pixel units; may extend past the image (see `outside`). */
export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
  flip: boolean;
  /** `zero`: pixels outside the image are 0 (padding); `clamp`: the edge pixel repeats. */
  outside: 'zero' | 'clamp';
}

/**
 * Augmentation policies.
 * - `crop-flip`: CIFAR-style random crop with zero padding (4 px at 32 px, scaled with the image) + horizontal flip.
 * - `rrc-flip`: random resized crop (area 8-100%, aspect 3/4-4/3) + horizontal flip, for folder trees.
 * - `none`: the whole image, resized.
 */
export type AugmentName = 'crop-flip' | 'rrc-flip' | 'none';
export const AUGMENTS: readonly AugmentName[] = ['crop-flip', 'rrc-flip', 'none'];

const whole = (img: RawImage): Region => ({
  x: 0,
  y: 0,
  w: img.width,
  h: img.height,
  flip: false,
  outside: 'clamp',
});

/** Chooses a region per policy: a table keyed by policy name. */
const POLICIES: Record<AugmentName, (img: RawImage, rng: Rng) => Region> = {
  none: whole,
  'crop-flip': (img, rng) => {
    const pad = Math.max(1, Math.round(img.width / 8));
    const dx = rng.int(2 * pad + 1) - pad;
    const dy = rng.int(2 * pad + 1) - pad;
    return { x: dx, y: dy, w: img.width, h: img.height, flip: rng.next() < 0.5, outside: 'zero' };
  },
  'rrc-flip': (img, rng) => {
    const area = img.width * img.height;
    for (let attempt = 0; attempt < 10; attempt++) {
      const target = area * rng.uniform(0.08, 1);
      const ratio = Math.exp(rng.uniform(Math.log(3 / 4), Math.log(4 / 3)));
      const w = Math.round(Math.sqrt(target * ratio));
      const h = Math.round(Math.sqrt(target / ratio));
      if (w > 0 && h > 0 && w <= img.width && h <= img.height) {
        const x = rng.int(img.width - w + 1);
        const y = rng.int(img.height - h + 1);
        return { x, y, w, h, flip: rng.next() < 0.5, outside: 'clamp' };
      }
    }
    return { ...whole(img), flip: rng.next() < 0.5 };
  },
};

/**
 * Picks the augmentation region for one image.
 * @example
 * const region = augmentRegion('crop-flip', img, new Rng(1));
 */
export function augmentRegion(name: AugmentName, img: RawImage, rng: Rng): Region {
  const policy = POLICIES[name];
  if (!policy) throw new ConfigError({ field: '--augment', expected: AUGMENTS.join(', '), received: name });
  return policy(img, rng);
}

/** Luma weights (BT.601) for RGB -> 1 channel. */
const LUMA = [0.299, 0.587, 0.114];

/**
 * Samples `region` of `img` into `out` at `offset` as a (H, W, C) block of the spec's input size
 * and channels, normalised as (pixel * scale - mean) / std.
 * @example
 * const out = new Float32Array(28 * 28);
 * sampleInto(img, { x: 0, y: 0, w: 28, h: 28, flip: false, outside: 'clamp' }, spec, out, 0);
 */
export function sampleInto(
  img: RawImage,
  region: Region,
  spec: PreprocessSpec,
  out: Float32Array,
  offset: number,
): void {
  const [H, W] = spec.inputSize;
  const C = spec.channels;
  const sc = img.channels;
  const src = img.data;
  const sy = region.h / H;
  const sx = region.w / W;
  const mul = new Float32Array(C);
  const add = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    mul[c] = spec.scale / spec.std[c];
    add[c] = -spec.mean[c] / spec.std[c];
  }
  const zero = region.outside === 'zero';
  const vals = new Float32Array(sc);
  const ih = img.height;
  const iw = img.width;
  for (let i = 0; i < H; i++) {
    const fy = region.y + (i + 0.5) * sy - 0.5;
    let y0 = Math.floor(fy);
    const wy = fy - y0;
    let y1 = y0 + 1;
    let okY0 = true;
    let okY1 = true;
    if (zero) {
      okY0 = y0 >= 0 && y0 < ih;
      okY1 = y1 >= 0 && y1 < ih;
    } else {
      y0 = Math.min(ih - 1, Math.max(0, y0));
      y1 = Math.min(ih - 1, Math.max(0, y1));
    }
    for (let j = 0; j < W; j++) {
      const jj = region.flip ? W - 1 - j : j;
      const fx = region.x + (jj + 0.5) * sx - 0.5;
      let x0 = Math.floor(fx);
      const wx = fx - x0;
      let x1 = x0 + 1;
      let okX0 = true;
      let okX1 = true;
      if (zero) {
        okX0 = x0 >= 0 && x0 < iw;
        okX1 = x1 >= 0 && x1 < iw;
      } else {
        x0 = Math.min(iw - 1, Math.max(0, x0));
        x1 = Math.min(iw - 1, Math.max(0, x1));
      }
      const w00 = (1 - wy) * (1 - wx);
      const w01 = (1 - wy) * wx;
      const w10 = wy * (1 - wx);
      const w11 = wy * wx;
      for (let k = 0; k < sc; k++) {
        let v = 0;
        if (okY0 && okX0 && w00 !== 0) v += w00 * src[(y0 * iw + x0) * sc + k];
        if (okY0 && okX1 && w01 !== 0) v += w01 * src[(y0 * iw + x1) * sc + k];
        if (okY1 && okX0 && w10 !== 0) v += w10 * src[(y1 * iw + x0) * sc + k];
        if (okY1 && okX1 && w11 !== 0) v += w11 * src[(y1 * iw + x1) * sc + k];
        vals[k] = v;
      }
      const o = offset + (i * W + j) * C;
      if (C === sc) {
        for (let c = 0; c < C; c++) out[o + c] = vals[c] * mul[c] + add[c];
      } else if (C === 3) {
        for (let c = 0; c < 3; c++) out[o + c] = vals[0] * mul[c] + add[c];
      } else {
        out[o] = (LUMA[0] * vals[0] + LUMA[1] * vals[1] + LUMA[2] * vals[2]) * mul[0] + add[0];
      }
    }
  }
}
