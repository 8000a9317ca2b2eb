/**
 * Channel relayout of DMP (and max-pool-only) blocks for the delegate. In a DMP block
 *   ChannelDuplicate(t) -> DepthwiseConv2D -> BN -> activation -> [SE] -> ChannelMaxPool(t)
 * every layer between the duplicate and the max-pool acts per channel (the SE convs mix channels
 * through their weights only), so the C*t channels may be stored in any order if those weights are
 * permuted alike. In the interleave order (copy j of channel c at c*t+j) the max-pool groups are
 * strided, and no op XNNPACK delegates reduces them (REDUCE_MAX and GATHER are not delegated; a
 * 1 x t MAX_POOL_2D over the [1, H*W*C, t, 1] view runs with one channel). Stored in the tile
 * order (copy j at j*C+c) the duplicate is a CONCATENATION of copies and the max-pool groups are
 * contiguous slices, which it delegates (docs/converter.md, "Lowering DMP for the delegate").
 * The model's outputs do not change.
 */

/** A node of the layer graph as lower.ts sees it. */
export interface RelayoutNode {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inputIds: number[];
  outputIds: number[];
  /** Channel count (last dimension) of each output. */
  outChannels: number[];
  /** Channel count of each input. */
  inChannels: number[];
}

/** What the lowering does differently for a relaid region. */
export interface RelayoutPlan {
  /** ChannelDuplicate / ChannelMaxPool layer names lowered in the tile order. */
  tile: Set<string>;
  /** Layer name -> weight short name -> axes whose index is permuted by `perm` of that layer. */
  axes: Map<string, Record<string, number[]>>;
  /** Layer name -> the permutation: new position k holds old channel perm[k]. */
  perm: Map<string, Int32Array>;
}

/** Layers that may sit between the duplicate and the max-pool. */
const PER_CHANNEL = new Set([
  'DepthwiseConv2D',
  'BatchNormalization',
  // edge-dmp's own BatchNorm and Swish layers (sdk/norm-layers.ts) are per-channel too.
  'EdgeDmpBatchNorm',
  'EdgeDmpSwish',
  'Activation',
  'ReLU',
  'GlobalAveragePooling2D',
  'Reshape',
  'Conv2D',
  'Multiply',
  'Dropout',
  'SpatialDropout2D',
]);

/**
 * interleave -> tile: new position j*C+c holds old channel c*t+j.
 * @example tilePermutation(2, 3) // Int32Array [0, 3, 1, 4, 2, 5]
 */
export function tilePermutation(c: number, t: number): Int32Array {
  const p = new Int32Array(c * t);
  for (let j = 0; j < t; j++) for (let k = 0; k < c; k++) p[j * c + k] = k * t + j;
  return p;
}

/**
 * Finds the blocks that end in a ChannelMaxPool and how to relay them out in the tile order. From
 * the max-pool's input the region grows over per-channel layers, both ways, to its boundaries: a
 * ChannelDuplicate (lowered in the tile order), Conv2Ds producing the region's channels (output
 * axis permuted: an expand conv, the SE expand conv) or reading them (input axis permuted: the SE
 * squeeze conv). Anything else touching the region (an Add, a Dense, a model output) leaves the
 * block as it is. DMP blocks and max-pool-only blocks are relaid; a duplicate without a max-pool
 * keeps its fold into the depthwise conv.
 * @example const plan = planRelayout(nodes, consumers, modelOutputs);
 */
export function planRelayout(
  nodes: RelayoutNode[],
  consumers: Map<number, RelayoutNode[]>,
  modelOutputs: Set<number>,
): RelayoutPlan {
  const plan: RelayoutPlan = { tile: new Set(), axes: new Map(), perm: new Map() };
  const producer = new Map<number, RelayoutNode>();
  for (const n of nodes) for (const id of n.outputIds) producer.set(id, n);
  const claimed = new Set<string>();
  for (const mp of nodes) {
    const t = Number(mp.config.t);
    if (mp.className !== 'ChannelMaxPool' || t <= 1 || claimed.has(mp.name)) continue;
    const order = mp.config.order ?? 'interleave';
    const n = mp.inChannels[0];
    const region = new Map<string, RelayoutNode>();
    const tile = new Set<string>([mp.name]);
    const convIn = new Set<string>();
    const convOut = new Set<string>();
    const queue = [...mp.inputIds];
    const seen = new Set<number>();
    let ok = n % t === 0;
    const sameChannelOp = (k: RelayoutNode, ids: number[], channels: number[]) =>
      PER_CHANNEL.has(k.className) &&
      k.className !== 'Conv2D' &&
      Number(k.config.depthMultiplier ?? 1) === 1 &&
      channels.every((c) => c === n) &&
      ids.length > 0;
    while (queue.length && ok) {
      const id = queue.shift() as number;
      if (seen.has(id)) continue;
      seen.add(id);
      if (modelOutputs.has(id)) ok = false;
      const p = producer.get(id);
      if (!p) ok = false;
      else if (p.className === 'ChannelDuplicate') {
        const same = Number(p.config.t) === t && (p.config.order ?? 'interleave') === order;
        if (same && p.inChannels[0] * t === n) tile.add(p.name);
        else ok = false;
      } else if (p.className === 'Conv2D') convOut.add(p.name);
      else if (sameChannelOp(p, p.inputIds, p.inChannels)) {
        if (!region.has(p.name)) region.set(p.name, p);
        queue.push(...p.inputIds);
      } else ok = false;
      for (const k of consumers.get(id) ?? []) {
        if (k.className === 'ChannelMaxPool') {
          const same = Number(k.config.t) === t && (k.config.order ?? 'interleave') === order;
          if (same) tile.add(k.name);
          else ok = false;
        } else if (k.className === 'Conv2D') convIn.add(k.name);
        else if (sameChannelOp(k, k.outputIds, k.outChannels)) {
          if (!region.has(k.name)) region.set(k.name, k);
          queue.push(...k.outputIds);
        } else ok = false;
      }
    }
    if (!ok) continue;
    for (const name of tile) {
      plan.tile.add(name);
      claimed.add(name);
    }
    // A tile-order block is already laid out so: its op sequences change, no weights move.
    if (order !== 'interleave') continue;
    const perm = tilePermutation(n / t, t);
    const set = (name: string, axes: Record<string, number[]>) => {
      const prev = plan.axes.get(name) ?? {};
      for (const [k, v] of Object.entries(axes)) prev[k] = [...(prev[k] ?? []), ...v];
      plan.axes.set(name, prev);
      plan.perm.set(name, perm);
    };
    for (const k of region.values()) {
      if (k.className === 'DepthwiseConv2D') set(k.name, { depthwise_kernel: [2], bias: [0] });
      if (k.className === 'BatchNormalization' || k.className === 'EdgeDmpBatchNorm')
        set(k.name, { gamma: [0], beta: [0], moving_mean: [0], moving_variance: [0] });
    }
    for (const name of convIn) set(name, { kernel: [2] });
    for (const name of convOut) set(name, { kernel: [3], bias: [0] });
  }
  return plan;
}

/**
 * `data` (shape `shape`) with the index along each of `axes` permuted: new index k reads old
 * index perm[k].
 * @example permuteAxes(new Float32Array([1, 2, 3, 4]), [4], [0], Int32Array.from([0, 2, 1, 3]))
 */
export function permuteAxes(
  data: Float32Array,
  shape: number[],
  axes: number[],
  perm: Int32Array,
): Float32Array {
  let cur = data;
  for (const axis of axes) {
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const dim = shape[axis];
    const outer = cur.length / (inner * dim);
    const out = new Float32Array(cur.length);
    for (let o = 0; o < outer; o++)
      for (let k = 0; k < dim; k++)
        out.set(
          cur.subarray((o * dim + perm[k]) * inner, (o * dim + perm[k] + 1) * inner),
          (o * dim + k) * inner,
        );
    cur = out;
  }
  return cur;
}
