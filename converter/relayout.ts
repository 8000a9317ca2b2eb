/**
 * Channel relayout of DMP blocks for the delegate. In a DMP block
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
 * Finds the interleave-order DMP regions and how to relay them out in the tile order.
 * @example const plan = planRelayout(nodes, consumers, modelOutputs);
 */
export function planRelayout(
  nodes: RelayoutNode[],
  consumers: Map<number, RelayoutNode[]>,
  modelOutputs: Set<number>,
): RelayoutPlan {
  const plan: RelayoutPlan = { tile: new Set(), axes: new Map(), perm: new Map() };
  for (const dup of nodes) {
    const t = Number(dup.config.t);
    // A tile-order block is already laid out so: it gets the tile block's op sequences, no permutation.
    const order = dup.config.order ?? 'interleave';
    if (dup.className !== 'ChannelDuplicate' || t <= 1) continue;
    const c = dup.inChannels[0];
    const n = c * t;
    const region = new Map<string, RelayoutNode>();
    const maxpools: RelayoutNode[] = [];
    const queue = [...dup.outputIds];
    const seen = new Set<number>();
    let ok = true;
    while (queue.length && ok) {
      const id = queue.shift() as number;
      if (seen.has(id)) continue;
      seen.add(id);
      if (modelOutputs.has(id)) ok = false;
      for (const k of consumers.get(id) ?? []) {
        if (k.className === 'ChannelMaxPool') {
          const same = Number(k.config.t) === t && (k.config.order ?? 'interleave') === order;
          if (!same || k.inChannels[0] !== n) ok = false;
          else if (!maxpools.includes(k)) maxpools.push(k);
          continue;
        }
        if (!PER_CHANNEL.has(k.className) || Number(k.config.depthMultiplier ?? 1) !== 1) ok = false;
        else if (!region.has(k.name)) {
          region.set(k.name, k);
          queue.push(...k.outputIds);
        }
      }
    }
    if (!ok || maxpools.length === 0) continue;
    const perm = tilePermutation(c, t);
    plan.tile.add(dup.name);
    for (const m of maxpools) plan.tile.add(m.name);
    if (order !== 'interleave') continue;
    for (const k of region.values()) {
      const axes = weightAxes(k, n);
      if (!axes) continue;
      plan.axes.set(k.name, axes);
      plan.perm.set(k.name, perm);
    }
  }
  return plan;
}

/** The weight axes of a region layer that index its N (= C*t) relaid channels. */
function weightAxes(k: RelayoutNode, n: number): Record<string, number[]> | null {
  switch (k.className) {
    case 'DepthwiseConv2D':
      return { depthwise_kernel: [2], bias: [0] };
    case 'BatchNormalization':
    case 'EdgeDmpBatchNorm':
      return { gamma: [0], beta: [0], moving_mean: [0], moving_variance: [0] };
    case 'Conv2D': {
      const kernel = [...(k.inChannels[0] === n ? [2] : []), ...(k.outChannels[0] === n ? [3] : [])];
      return { kernel, bias: k.outChannels[0] === n ? [0] : [] };
    }
    default:
      return null;
  }
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
