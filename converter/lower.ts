/**
 * Graph lowering: a tfjs LayersModel becomes a float32 TFLite Graph. One table entry per layer
 * className; each entry appends TFLite ops and returns the tensor indices of the layer's outputs.
 * BatchNormalization that directly follows a Conv2D / DepthwiseConv2D (its only consumer) is folded
 * into that conv's weights and bias. A ChannelDuplicate (interleave order) whose only consumer is a
 * DepthwiseConv2D is folded into that conv's depth_multiplier (see docs/converter.md).
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, ModelError, bytesOf, dropUnused, type Graph, Activation } from '@edge-dmp/core';
import { DUPLICATE, MAXPOOL } from './channel-ops.js';
import { planRelayout } from './relayout.js';
import {
  DEFAULT_STRATEGY,
  LowerContext,
  RELAID_STRATEGY,
  type LayerNode,
  type LowerOptions,
} from './lower-context.js';
import { ACTIVATIONS, LOWERINGS } from './lower-layers.js';

export {
  DEFAULT_STRATEGY,
  RELAID_STRATEGY,
  LowerContext,
  type DuplicateStrategy,
  type LowerOptions,
  type MaxPoolStrategy,
} from './lower-context.js';
export { LOWERINGS } from './lower-layers.js';

function symId(t: tf.SymbolicTensor): number {
  return t.id;
}

/**
 * Lowers a tfjs LayersModel (single NHWC or [N,F] input, single output) to a float32 TFLite graph
 * with batch size 1.
 * @example
 * const graph = lowerModel(model, { softmax: false });
 * const bytes = writeTflite(graph);
 */
export function lowerModel(model: tf.LayersModel, opts: LowerOptions = {}): Graph {
  const duplicate = opts.duplicate ?? DEFAULT_STRATEGY.duplicate;
  const maxpool = opts.maxpool ?? DEFAULT_STRATEGY.maxpool;
  if (!(duplicate in DUPLICATE)) {
    throw new ConfigError({
      field: 'duplicate',
      expected: Object.keys(DUPLICATE).join(' | '),
      received: duplicate,
    });
  }
  if (!(maxpool in MAXPOOL)) {
    throw new ConfigError({
      field: 'maxpool',
      expected: Object.keys(MAXPOOL).join(' | '),
      received: maxpool,
    });
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelError({
      field: 'model',
      expected: 'one input and one output',
      received: `${model.inputs.length} inputs, ${model.outputs.length} outputs`,
    });
  }
  const nodes: LayerNode[] = model.layers.map((layer) => {
    const node = (
      layer as unknown as {
        inboundNodes: { inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[] }[];
      }
    ).inboundNodes;
    if (node.length !== 1) {
      throw new ModelError({
        field: `layer ${layer.name}`,
        expected: 'a layer used once (shared layers are not supported)',
        received: `${node.length} uses`,
      });
    }
    const ch = (ts: tf.SymbolicTensor[]) => ts.map((t) => Number(t.shape[t.shape.length - 1]));
    return {
      layer,
      name: layer.name,
      className: layer.getClassName(),
      config: layer.getConfig() as Record<string, unknown>,
      inputIds: node[0].inputTensors.map(symId),
      outputIds: node[0].outputTensors.map(symId),
      inChannels: ch(node[0].inputTensors),
      outChannels: ch(node[0].outputTensors),
    };
  });
  const consumers = new Map<number, LayerNode[]>();
  for (const n of nodes) for (const id of n.inputIds) consumers.set(id, [...(consumers.get(id) ?? []), n]);
  const outputs = new Set([symId(model.outputs[0])]);
  const ctx = new LowerContext(
    nodes,
    consumers,
    {
      duplicate,
      maxpool,
      fuseDuplicate: opts.fuseDuplicate ?? true,
      // An explicit strategy applies inside relaid blocks too.
      relaid: {
        duplicate: opts.duplicate ?? RELAID_STRATEGY.duplicate,
        maxpool: opts.maxpool ?? RELAID_STRATEGY.maxpool,
      },
    },
    (opts.relayout ?? true) ? planRelayout(nodes, consumers, outputs) : undefined,
  );
  ctx.modelOutputs.add(symId(model.outputs[0]));

  const inShape = model.inputs[0].shape.map((d, i) => (i === 0 ? 1 : Number(d)));
  if (inShape.some((d) => !Number.isFinite(d) || d < 1)) {
    throw new ModelError({
      field: 'model input shape',
      expected: 'fixed dimensions after the batch',
      received: model.inputs[0].shape,
    });
  }
  for (const n of nodes) {
    if (n.className === 'InputLayer') {
      const t = ctx.act(n.layer.name, inShape);
      ctx.tensorOf.set(n.outputIds[0], t);
      ctx.g.graph.inputs.push(t);
      continue;
    }
    const f = LOWERINGS[n.className];
    if (!f) {
      throw new ModelError({
        field: `layer ${n.layer.name}`,
        expected: `a layer type with a TFLite mapping (${['InputLayer', ...Object.keys(LOWERINGS)].join(', ')})`,
        received: n.className,
      });
    }
    const ins = n.inputIds.map((id) => {
      const t = ctx.tensorOf.get(id);
      if (t === undefined)
        throw new ModelError({
          field: `layer ${n.layer.name}`,
          expected: 'inputs lowered before it',
          received: id,
        });
      return t;
    });
    const outs = f(ctx, n, ins);
    n.outputIds.forEach((id, i) => ctx.tensorOf.set(id, outs[i]));
  }
  let out = ctx.tensorOf.get(symId(model.outputs[0]));
  if (out === undefined)
    throw new ModelError({ field: 'model output', expected: 'a lowered tensor', received: 'none' });
  if (opts.softmax) out = ACTIVATIONS.softmax(ctx, out, 'softmax');
  ctx.g.graph.outputs.push(out);
  ctx.g.graph.description = `edge-dmp: ${model.name}`;
  return fuseActivations(ctx.g.graph);
}

/** Ops whose `fused_activation_function` can absorb a following RELU / RELU6. */
const FUSES_INTO = new Set(['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'ADD', 'MUL']);

/**
 * Folds a RELU / RELU6 into the op before it when that op's output feeds only the activation
 * (conv -> BN (folded) -> relu6 becomes one CONV_2D, as in MobileNetV2).
 */
function fuseActivations(g: Graph): Graph {
  const uses = new Map<number, number>();
  for (const o of g.ops) for (const t of o.inputs) uses.set(t, (uses.get(t) ?? 0) + 1);
  const producer = new Map<number, (typeof g.ops)[number]>();
  for (const o of g.ops) for (const t of o.outputs) producer.set(t, o);
  const drop = new Set<(typeof g.ops)[number]>();
  for (const o of g.ops) {
    if (o.op !== 'RELU' && o.op !== 'RELU6') continue;
    const t = o.inputs[0];
    const p = producer.get(t);
    const opts = p?.options?.values;
    if (!p || !opts || !FUSES_INTO.has(p.op) || opts.fused_activation_function !== Activation.NONE) continue;
    if (uses.get(t) !== 1 || g.outputs.includes(t)) continue;
    opts.fused_activation_function = o.op === 'RELU' ? Activation.RELU : Activation.RELU6;
    p.outputs = [o.outputs[0]];
    producer.set(o.outputs[0], p);
    drop.add(o);
  }
  g.ops = g.ops.filter((o) => !drop.has(o));
  return dropUnused(g);
}

/** Re-exported for tests that build graphs by hand. */
export { bytesOf };
