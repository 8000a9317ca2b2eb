/**
 * The op sequences for ChannelDuplicate and ChannelMaxPool (the strategies of the lowering table,
 * measured in docs/converter.md), and the RESHAPE / GATHER helpers they share with lower-layers.ts.
 */
import type { DuplicateStrategy, LowerContext, MaxPoolStrategy } from './lower-context.js';
import { Padding } from '@edge-dmp/core';

export function reshape(ctx: LowerContext, x: number, shape: number[], name: string): number {
  const st = ctx.g.constI32(`${name}/shape`, [shape.length], shape);
  const y = ctx.act(name, shape);
  ctx.g.op({
    op: 'RESHAPE',
    inputs: [x, st],
    outputs: [y],
    options: { kind: 'ReshapeOptions', values: { new_shape: shape } },
  });
  return y;
}

export function gather(ctx: LowerContext, x: number, indices: number[], axis: number, name: string): number {
  const it = ctx.g.constI32(`${name}/indices`, [indices.length], indices);
  const shape = ctx.shape(x).slice();
  shape[axis] = indices.length;
  const y = ctx.act(name, shape);
  ctx.g.op({
    op: 'GATHER',
    inputs: [x, it],
    outputs: [y],
    options: { kind: 'GatherOptions', values: { axis, batch_dims: 0 } },
  });
  return y;
}

/** ChannelDuplicate op sequences; all give out[c*t+j] = in[c] (interleave) or out[j*C+c] = in[c] (tile). */
export const DUPLICATE: Record<
  DuplicateStrategy,
  (ctx: LowerContext, x: number, t: number, order: string, name: string) => number
> = {
  gather: (ctx, x, t, order, name) => {
    const c = ctx.shape(x)[3];
    const idx = Array.from({ length: c * t }, (_, k) => (order === 'interleave' ? Math.floor(k / t) : k % c));
    return gather(ctx, x, idx, 3, name);
  },
  tile: (ctx, x, t, order, name) => {
    const [, h, w, c] = ctx.shape(x);
    // Rank 3 keeps TILE and RESHAPE on their common paths.
    const src = reshape(ctx, x, order === 'interleave' ? [h * w, c, 1] : [h * w, 1, c], `${name}/in`);
    const mt = ctx.g.constI32(`${name}/multiples`, [3], order === 'interleave' ? [1, 1, t] : [1, t, 1]);
    const tiled = ctx.act(`${name}/tiled`, order === 'interleave' ? [h * w, c, t] : [h * w, t, c]);
    ctx.g.op({
      op: 'TILE',
      inputs: [src, mt],
      outputs: [tiled],
      options: { kind: 'TileOptions', values: {} },
    });
    return reshape(ctx, tiled, [1, h, w, c * t], name);
  },
  concat: (ctx, x, t, order, name) => {
    const [, h, w, c] = ctx.shape(x);
    if (order === 'tile') return concatCopies(ctx, x, t, name);
    const src = order === 'interleave' ? reshape(ctx, x, [h * w, c, 1], `${name}/in`) : x;
    const axis = order === 'interleave' ? 2 : 3;
    const shape = order === 'interleave' ? [h * w, c, t] : [1, h, w, c * t];
    const cat = ctx.act(order === 'interleave' ? `${name}/cat` : name, shape);
    ctx.g.op({
      op: 'CONCATENATION',
      inputs: new Array<number>(t).fill(src),
      outputs: [cat],
      options: { kind: 'ConcatenationOptions', values: { axis, fused_activation_function: 0 } },
    });
    return order === 'interleave' ? reshape(ctx, cat, [1, h, w, c * t], name) : cat;
  },
};

/**
 * t copies of x along the channels (tile order) as CONCATENATIONs of at most 4 inputs (XNNPACK
 * delegates 2-4): t = 6 is concat(concat(x, x, x), same).
 */
function concatCopies(ctx: LowerContext, x: number, t: number, name: string): number {
  const [, h, w, c] = ctx.shape(x);
  const f = [4, 3, 2].find((k) => t % k === 0 && t / k <= 4 && t > 4) ?? (t <= 4 ? t : 0);
  // No such split (t = 5, 7, ...): one GATHER (outside the delegate, but correct).
  if (f === 0) return DUPLICATE.gather(ctx, x, t, 'tile', name);
  const cat = (inputs: number[], out: string) => {
    const y = ctx.act(out, [1, h, w, (ctx.shape(inputs[0])[3] ?? c) * inputs.length]);
    ctx.g.op({
      op: 'CONCATENATION',
      inputs,
      outputs: [y],
      options: { kind: 'ConcatenationOptions', values: { axis: 3, fused_activation_function: 0 } },
    });
    return y;
  };
  if (f === t) return cat(new Array<number>(t).fill(x), name);
  const inner = cat(new Array<number>(f).fill(x), `${name}/x${f}`);
  return cat(new Array<number>(t / f).fill(inner), name);
}

function slice(ctx: LowerContext, x: number, begin: number[], size: number[], name: string): number {
  const y = ctx.act(name, size);
  ctx.g.op({
    op: 'SLICE',
    inputs: [x, ctx.g.constI32(`${name}/begin`, [4], begin), ctx.g.constI32(`${name}/size`, [4], size)],
    outputs: [y],
    options: { kind: 'SliceOptions', values: {} },
  });
  return y;
}

function stridedSlice(ctx: LowerContext, x: number, j: number, t: number, name: string): number {
  const [, h, w, c] = ctx.shape(x);
  const y = ctx.act(name, [1, h, w, c / t]);
  ctx.g.op({
    op: 'STRIDED_SLICE',
    inputs: [
      x,
      ctx.g.constI32(`${name}/begin`, [4], [0, 0, 0, j]),
      ctx.g.constI32(`${name}/end`, [4], [1, h, w, c]),
      ctx.g.constI32(`${name}/strides`, [4], [1, 1, 1, t]),
    ],
    outputs: [y],
    options: {
      kind: 'StridedSliceOptions',
      values: {
        begin_mask: 0,
        end_mask: 0,
        ellipsis_mask: 0,
        new_axis_mask: 0,
        shrink_axis_mask: 0,
        offset: false,
      },
    },
  });
  return y;
}

/** MAX_POOL_2D with a 1 x t window and stride. */
function maxPool1xT(ctx: LowerContext, x: number, t: number, shape: number[], name: string): number {
  const y = ctx.act(name, shape);
  ctx.g.op({
    op: 'MAX_POOL_2D',
    inputs: [x],
    outputs: [y],
    options: {
      kind: 'Pool2DOptions',
      values: {
        padding: Padding.VALID,
        stride_w: t,
        stride_h: 1,
        filter_width: t,
        filter_height: 1,
        fused_activation_function: 0,
      },
    },
  });
  return y;
}

function maximum(ctx: LowerContext, a: number, b: number, name: string): number {
  const y = ctx.act(name, ctx.shape(a));
  ctx.g.op({
    op: 'MAXIMUM',
    inputs: [a, b],
    outputs: [y],
    options: { kind: 'MaximumMinimumOptions', values: {} },
  });
  return y;
}

/** ChannelMaxPool op sequences: max over {c*t+j} (interleave) or {j*C'+c} (tile). */
export const MAXPOOL: Record<
  MaxPoolStrategy,
  (ctx: LowerContext, x: number, t: number, order: string, name: string) => number
> = {
  reduce_max: (ctx, x, t, order, name) => {
    const [, h, w, c] = ctx.shape(x);
    const g = c / t;
    const grouped = reshape(
      ctx,
      x,
      order === 'interleave' ? [h * w, g, t] : [h * w, t, g],
      `${name}/grouped`,
    );
    const axis = ctx.g.constI32(`${name}/axis`, [1], [order === 'interleave' ? 2 : 1]);
    const red = ctx.act(`${name}/max`, [h * w, g]);
    ctx.g.op({
      op: 'REDUCE_MAX',
      inputs: [grouped, axis],
      outputs: [red],
      options: { kind: 'ReducerOptions', values: { keep_dims: false } },
    });
    return reshape(ctx, red, [1, h, w, g], name);
  },
  // MAX_POOL_2D with a 1 x t window over a reshaped view: interleave [1, H*W*C', t, 1] (one
  // channel); tile [1, H, W*t, C'] (pixel w*t+j holds copy j: C' channels, and the pooled
  // output is already [1, H, W, C'], one RESHAPE in all).
  max_pool_2d: (ctx, x, t, order, name) => {
    const [, h, w, c] = ctx.shape(x);
    const g = c / t;
    if (order === 'tile')
      return maxPool1xT(ctx, reshape(ctx, x, [1, h, w * t, g], `${name}/grouped`), t, [1, h, w, g], name);
    const view = order === 'interleave' ? [1, h * w * g, t, 1] : [1, h * w, t, g];
    const grouped = reshape(ctx, x, view, `${name}/grouped`);
    const pooled = maxPool1xT(ctx, grouped, t, [1, h * w * g, 1, 1], `${name}/max`);
    return reshape(ctx, pooled, [1, h, w, g], name);
  },
  // Tile: group j is the contiguous SLICE [j*C', (j+1)*C'); interleave: STRIDED_SLICE from j by t.
  // MAXIMUM folds them pairwise.
  slice_max: (ctx, x, t, order, name) => {
    const [, h, w, c] = ctx.shape(x);
    const g = c / t;
    let acc = -1;
    for (let j = 0; j < t; j++) {
      const part =
        order === 'tile'
          ? slice(ctx, x, [0, 0, 0, j * g], [1, h, w, g], `${name}/part${j}`)
          : stridedSlice(ctx, x, j, t, `${name}/part${j}`);
      acc = acc < 0 ? part : maximum(ctx, acc, part, j === t - 1 ? name : `${name}/max${j}`);
    }
    return acc;
  },
  maximum: (ctx, x, t, order, name) => {
    const c = ctx.shape(x)[3];
    const g = c / t;
    let acc = -1;
    for (let j = 0; j < t; j++) {
      const idx = Array.from({ length: g }, (_, k) => (order === 'interleave' ? k * t + j : j * g + k));
      const part = gather(ctx, x, idx, 3, `${name}/part${j}`);
      if (acc < 0) {
        acc = part;
        continue;
      }
      const y = ctx.act(j === t - 1 ? name : `${name}/max${j}`, ctx.shape(part));
      ctx.g.op({
        op: 'MAXIMUM',
        inputs: [acc, part],
        outputs: [y],
        options: { kind: 'MaximumMinimumOptions', values: {} },
      });
      acc = y;
    }
    return acc;
  },
};
