/**
 * The lowering table: one entry per layer className, each appending TFLite ops and returning the
 * tensor indices of the layer's outputs. BatchNormalization that directly follows a Conv2D /
 * DepthwiseConv2D (its only consumer) is folded into that conv's weights and bias. A
 * ChannelDuplicate (interleave order) whose only consumer is a DepthwiseConv2D is folded into that
 * conv's depth_multiplier (see docs/converter.md).
 */
import { ModelError, Activation, Padding } from '@edge-dmp/core';
import { DUPLICATE, MAXPOOL, reshape } from './channel-ops.js';
import {
  LowerContext,
  need,
  outSpatial,
  pair,
  weightsByName,
  type LayerNode,
  type Lowering,
} from './lower-context.js';

/** Layer classes lowered as a BatchNorm: tfjs's and edge-dmp's own (sdk/norm-layers.ts). */
const BATCH_NORMS = new Set(['BatchNormalization', 'EdgeDmpBatchNorm']);

/**
 * If the conv's only consumer is a BatchNormalization, returns its per-channel (scale, shift) and
 * marks it folded.
 */
function foldBn(
  ctx: LowerContext,
  n: LayerNode,
  channels: number,
): { scale: Float32Array; shift: Float32Array } | null {
  const cons = ctx.consumers.get(n.outputIds[0]) ?? [];
  if (cons.length !== 1 || !BATCH_NORMS.has(cons[0].className)) return null;
  if (n.config.activation && n.config.activation !== 'linear') return null;
  const bn = cons[0];
  const w = ctx.weights(bn.layer);
  const eps = Number(bn.config.epsilon ?? 1e-3);
  const mean = need(w.get('moving_mean'), bn.layer.name, 'moving_mean').data;
  const variance = need(w.get('moving_variance'), bn.layer.name, 'moving_variance').data;
  const gamma = w.get('gamma')?.data;
  const beta = w.get('beta')?.data;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  ctx.folded.add(bn.layer.name);
  // The BN's output now refers to the conv's output tensor.
  return { scale, shift };
}

/** Fused activation code, or the post-op sequence for activations TFLite cannot fuse. */
const FUSABLE: Record<string, number> = {
  linear: Activation.NONE,
  relu: Activation.RELU,
  relu6: Activation.RELU6,
};

/** Activation layer / activation config -> TFLite ops applied to tensor x. */
export const ACTIVATIONS: Record<string, (ctx: LowerContext, x: number, name: string) => number> = {
  linear: (_ctx, x) => x,
  relu: (ctx, x, name) => unary(ctx, 'RELU', x, name),
  relu6: (ctx, x, name) => unary(ctx, 'RELU6', x, name),
  sigmoid: (ctx, x, name) => unary(ctx, 'LOGISTIC', x, name),
  // Exact swish: x * sigmoid(x) (HARD_SWISH would be an approximation).
  swish: (ctx, x, name) => {
    const s = unary(ctx, 'LOGISTIC', x, `${name}/sigmoid`);
    const y = ctx.act(name, ctx.shape(x));
    ctx.g.op({
      op: 'MUL',
      inputs: [x, s],
      outputs: [y],
      options: { kind: 'MulOptions', values: { fused_activation_function: 0 } },
    });
    return y;
  },
  softmax: (ctx, x, name) => {
    const y = ctx.act(name, ctx.shape(x));
    ctx.g.op({
      op: 'SOFTMAX',
      inputs: [x],
      outputs: [y],
      options: { kind: 'SoftmaxOptions', values: { beta: 1 } },
    });
    return y;
  },
};

function unary(ctx: LowerContext, op: 'RELU' | 'RELU6' | 'LOGISTIC', x: number, name: string): number {
  const y = ctx.act(name, ctx.shape(x));
  ctx.g.op({ op, inputs: [x], outputs: [y] });
  return y;
}

function applyActivation(ctx: LowerContext, n: LayerNode, x: number, fusedAlready: boolean): number {
  const a = String(n.config.activation ?? 'linear');
  if (fusedAlready && a in FUSABLE) return x;
  const f = ACTIVATIONS[a];
  if (!f) {
    throw new ModelError({
      field: `layer ${n.layer.name} (${n.className}).activation`,
      expected: Object.keys(ACTIVATIONS).join(' | '),
      received: a,
    });
  }
  return f(ctx, x, `${n.layer.name}/${a}`);
}

function conv(ctx: LowerContext, n: LayerNode, inputs: number[], depthwise: boolean): number[] {
  const [x] = inputs;
  const [, h, w, cin] = ctx.shape(x);
  const cfg = n.config;
  const [kh, kw] = pair(cfg.kernelSize);
  const [sh, sw] = pair(cfg.strides ?? 1);
  const [dh, dw] = pair(cfg.dilationRate ?? 1);
  const padding = String(cfg.padding ?? 'valid');
  const ws = ctx.weights(n.layer);
  const kernel = need(ws.get(depthwise ? 'depthwise_kernel' : 'kernel'), n.layer.name, 'a kernel');
  // A folded ChannelDuplicate(t) before it: the input has C channels, the kernel [KH,KW,C*t,M] is
  // read as [KH,KW,C,t*M] (channel c*t+j of the duplicate is input channel c), so output c*t*M+k
  // keeps its filter.
  const mult = depthwise ? Number(cfg.depthMultiplier ?? 1) * (ctx.dupFolded.get(n.layer.name) ?? 1) : 1;
  const cout = depthwise ? cin * mult : Number(cfg.filters);
  const bias = ws.get('bias')?.data;
  const fold = foldBn(ctx, n, cout);
  const act = String(cfg.activation ?? 'linear');
  const fused = !fold && act in FUSABLE ? FUSABLE[act] : Activation.NONE;

  // tfjs kernels: conv [KH,KW,I,O], depthwise [KH,KW,C,M]; TFLite: conv [O,KH,KW,I], depthwise [1,KH,KW,C*M].
  const k = kernel.data;
  const wOut = new Float32Array(k.length);
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const s = fold ? fold.scale[o] : 1;
    b[o] = ((bias ? bias[o] : 0) * s + (fold ? fold.shift[o] : 0)) as number;
  }
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let m = 0; m < (depthwise ? mult : cout); m++) {
          const o = depthwise ? c * mult + m : m;
          const src = ((i * kw + j) * cin + c) * (depthwise ? mult : cout) + m;
          const s = fold ? fold.scale[o] : 1;
          const dst = depthwise ? (i * kw + j) * cout + o : ((o * kh + i) * kw + j) * cin + c;
          wOut[dst] = k[src] * s;
        }
  const name = n.layer.name;
  const wt = ctx.g.constF32(`${name}/weights`, depthwise ? [1, kh, kw, cout] : [cout, kh, kw, cin], wOut);
  const bt = ctx.g.constF32(`${name}/bias`, [cout], b);
  const y = ctx.act(name, [1, outSpatial(h, sh, padding), outSpatial(w, sw, padding), cout]);
  const pad = padding === 'same' ? Padding.SAME : Padding.VALID;
  ctx.g.op(
    depthwise
      ? {
          op: 'DEPTHWISE_CONV_2D',
          inputs: [x, wt, bt],
          outputs: [y],
          options: {
            kind: 'DepthwiseConv2DOptions',
            values: {
              padding: pad,
              stride_w: sw,
              stride_h: sh,
              depth_multiplier: mult,
              fused_activation_function: fused,
              dilation_w_factor: dw,
              dilation_h_factor: dh,
            },
          },
        }
      : {
          op: 'CONV_2D',
          inputs: [x, wt, bt],
          outputs: [y],
          options: {
            kind: 'Conv2DOptions',
            values: {
              padding: pad,
              stride_w: sw,
              stride_h: sh,
              fused_activation_function: fused,
              dilation_w_factor: dw,
              dilation_h_factor: dh,
            },
          },
        },
  );
  if (fold) return [y];
  return [applyActivation(ctx, n, y, true)];
}

function mulAdd(ctx: LowerContext, op: 'MUL' | 'ADD', a: number, b: number, name: string): number {
  const sa = ctx.shape(a);
  const sb = ctx.shape(b);
  const shape =
    sa.length >= sb.length ? sa.map((d, i) => Math.max(d, sb[i - (sa.length - sb.length)] ?? 1)) : sb;
  const y = ctx.act(name, shape);
  ctx.g.op({
    op,
    inputs: [a, b],
    outputs: [y],
    options: { kind: op === 'MUL' ? 'MulOptions' : 'AddOptions', values: { fused_activation_function: 0 } },
  });
  return y;
}

/** The layer's t and the channel order it is lowered in (tile inside a relaid block). */
function channelT(ctx: LowerContext, n: LayerNode): { t: number; order: string } {
  const order = ctx.relayout.tile.has(n.name) ? 'tile' : String(n.config.order ?? 'interleave');
  return { t: Number(n.config.t), order };
}

/** A BatchNorm not folded into the conv before it: y = x * scale + shift, per channel. */
function standaloneBn(ctx: LowerContext, n: LayerNode, inputs: number[]): number[] {
  const [x] = inputs;
  if (ctx.folded.has(n.layer.name)) return [x];
  const c = ctx.shape(x)[ctx.shape(x).length - 1];
  const w = ctx.weights(n.layer);
  const eps = Number(n.config.epsilon ?? 1e-3);
  const mean = need(w.get('moving_mean'), n.layer.name, 'moving_mean').data;
  const variance = need(w.get('moving_variance'), n.layer.name, 'moving_variance').data;
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = (w.get('gamma')?.data[i] ?? 1) / Math.sqrt(variance[i] + eps);
    shift[i] = (w.get('beta')?.data[i] ?? 0) - mean[i] * scale[i];
  }
  const name = n.layer.name;
  const m = mulAdd(ctx, 'MUL', x, ctx.g.constF32(`${name}/scale`, [c], scale), `${name}/mul`);
  return [mulAdd(ctx, 'ADD', m, ctx.g.constF32(`${name}/shift`, [c], shift), name)];
}

/** Multiply / Add of n inputs: a chain of binary MUL / ADD ops, the last one named after the layer. */
const chain =
  (op: 'MUL' | 'ADD'): Lowering =>
  (ctx, n, inputs) => [
    inputs
      .slice(1)
      .reduce(
        (a, b, i) => mulAdd(ctx, op, a, b, i === inputs.length - 2 ? n.layer.name : `${n.layer.name}/${i}`),
        inputs[0],
      ),
  ];

const identity: Lowering = (_ctx, _n, inputs) => [inputs[0]];

/** The lowering table: layer className -> TFLite ops. */
export const LOWERINGS: Record<string, Lowering> = {
  Conv2D: (ctx, n, inputs) => conv(ctx, n, inputs, false),
  DepthwiseConv2D: (ctx, n, inputs) => conv(ctx, n, inputs, true),
  BatchNormalization: (ctx, n, inputs) => standaloneBn(ctx, n, inputs),
  // edge-dmp's own BatchNorm / Swish layers (sdk/norm-layers.ts): same weights and maths as the stock ones.
  EdgeDmpBatchNorm: (ctx, n, inputs) => standaloneBn(ctx, n, inputs),
  EdgeDmpSwish: (ctx, n, inputs) => [ACTIVATIONS.swish(ctx, inputs[0], `${n.layer.name}/swish`)],
  Activation: (ctx, n, inputs) => [applyActivation(ctx, n, inputs[0], false)],
  ReLU: (ctx, n, inputs) => {
    const max = n.config.maxValue;
    return [unary(ctx, max === 6 ? 'RELU6' : 'RELU', inputs[0], n.layer.name)];
  },
  GlobalAveragePooling2D: (ctx, n, inputs) => {
    const [x] = inputs;
    const s = ctx.shape(x);
    // Followed only by Reshape to [1, 1, C] (the SE squeeze): MEAN with keep_dims gives that shape
    // in one op; a RESHAPE would run outside XNNPACK in int8 and split the delegated graph.
    const cons = ctx.consumers.get(n.outputIds[0]) ?? [];
    const toSe =
      cons.length === 1 &&
      cons[0].className === 'Reshape' &&
      (cons[0].config.targetShape as number[]).map(Number).join() === `1,1,${s[3]}` &&
      !ctx.modelOutputs.has(n.outputIds[0]);
    if (toSe) ctx.folded.add(cons[0].name);
    const keep = toSe || Boolean(n.config.keepDims);
    const axes = ctx.g.constI32(`${n.layer.name}/axes`, [2], [1, 2]);
    const y = ctx.act(n.layer.name, keep ? [1, 1, 1, s[3]] : [1, s[3]]);
    ctx.g.op({
      op: 'MEAN',
      inputs: [x, axes],
      outputs: [y],
      options: { kind: 'ReducerOptions', values: { keep_dims: keep } },
    });
    return [y];
  },
  Reshape: (ctx, n, inputs) => {
    if (ctx.folded.has(n.name)) return [inputs[0]];
    const target = (n.config.targetShape as number[]).map(Number);
    return [reshape(ctx, inputs[0], [1, ...target], n.layer.name)];
  },
  Flatten: (ctx, n, inputs) => {
    const s = ctx.shape(inputs[0]);
    return [reshape(ctx, inputs[0], [1, s.slice(1).reduce((a, b) => a * b, 1)], n.layer.name)];
  },
  Multiply: chain('MUL'),
  Add: chain('ADD'),
  Dense: (ctx, n, inputs) => {
    const [x] = inputs;
    const s = ctx.shape(x);
    const inF = s[s.length - 1];
    const units = Number(n.config.units);
    const ws = weightsByName(n.layer);
    const k = need(ws.get('kernel'), n.layer.name, 'a kernel').data;
    // tfjs [in, units] -> TFLite [units, in].
    const wt = new Float32Array(units * inF);
    for (let i = 0; i < inF; i++) for (let u = 0; u < units; u++) wt[u * inF + i] = k[i * units + u];
    const b = ws.get('bias')?.data ?? new Float32Array(units);
    const name = n.layer.name;
    const act = String(n.config.activation ?? 'linear');
    const y = ctx.act(name, [...s.slice(0, -1), units]);
    ctx.g.op({
      op: 'FULLY_CONNECTED',
      inputs: [
        x,
        ctx.g.constF32(`${name}/weights`, [units, inF], wt),
        ctx.g.constF32(`${name}/bias`, [units], b),
      ],
      outputs: [y],
      options: {
        kind: 'FullyConnectedOptions',
        values: {
          fused_activation_function: FUSABLE[act] ?? 0,
          weights_format: 0,
          keep_num_dims: s.length > 2,
        },
      },
    });
    return [applyActivation(ctx, n, y, true)];
  },
  Dropout: identity,
  SpatialDropout2D: identity,
  DropConnect: identity,
  ChannelDuplicate: (ctx, n, inputs) => {
    const { t, order } = channelT(ctx, n);
    if (t === 1) return [inputs[0]];
    const cons = ctx.consumers.get(n.outputIds[0]) ?? [];
    const foldable =
      ctx.opts.fuseDuplicate &&
      order === 'interleave' &&
      cons.length === 1 &&
      cons[0].className === 'DepthwiseConv2D' &&
      !ctx.modelOutputs.has(n.outputIds[0]);
    if (foldable) {
      ctx.dupFolded.set(cons[0].layer.name, t);
      return [inputs[0]];
    }
    const strategy = ctx.relayout.tile.has(n.name) ? ctx.opts.relaid.duplicate : ctx.opts.duplicate;
    return [DUPLICATE[strategy](ctx, inputs[0], t, order, n.layer.name)];
  },
  ChannelMaxPool: (ctx, n, inputs) => {
    const { t, order } = channelT(ctx, n);
    if (t === 1) return [inputs[0]];
    const strategy = ctx.relayout.tile.has(n.name) ? ctx.opts.relaid.maxpool : ctx.opts.maxpool;
    return [MAXPOOL[strategy](ctx, inputs[0], t, order, n.layer.name)];
  },
};
