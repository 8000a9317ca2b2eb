/**
 * The in-memory TFLite graph edge-dmp builds before serialising: tensors (with optional constant
 * data and quantization), operators and the graph's inputs/outputs. The writer turns it into a
 * flatbuffer, the reader turns a flatbuffer back into it.
 */
import type { BuiltinOpName, OptionsName, OptionValues, TensorTypeName } from './schema.js';

export interface Quantization {
  /** One scale per tensor, or one per channel along `dimension`. */
  scale: number[];
  zeroPoint: number[];
  /** The channel axis for per-channel scales. */
  dimension?: number;
  min?: number[];
  max?: number[];
}

export interface GraphTensor {
  name: string;
  shape: number[];
  type: TensorTypeName;
  /** Constant contents (little-endian raw bytes); absent for activations. */
  data?: Uint8Array;
  quant?: Quantization;
}

export interface GraphOp {
  op: BuiltinOpName;
  inputs: number[];
  outputs: number[];
  options?: { kind: OptionsName; values: OptionValues };
  /** Operator version; 1 unless a quantized kernel needs more (see OP_VERSIONS in the writer). */
  version?: number;
}

export interface Graph {
  tensors: GraphTensor[];
  ops: GraphOp[];
  inputs: number[];
  outputs: number[];
  description?: string;
}

/**
 * Raw bytes of a typed array (copied, so later writes to the source do not change the graph).
 * @example g.tensor({ name: 'w', shape: [4], type: 'FLOAT32', data: bytesOf(new Float32Array(4)) });
 */
export function bytesOf(a: Float32Array | Int32Array | Int8Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/**
 * A constant tensor's contents as float32 (a copy; the inverse of bytesOf).
 * @example const w = floatData(graph.tensors[op.inputs[1]]);
 */
export function floatData(t: GraphTensor): Float32Array {
  const d = t.data as Uint8Array;
  return new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
}

/**
 * A constant INT32 tensor's contents (a copy): shapes, axes, indices.
 * @example const axes = intData(graph.tensors[op.inputs[1]]);
 */
export function intData(t: GraphTensor): Int32Array {
  const d = t.data as Uint8Array;
  return new Int32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
}

/**
 * Small helper that appends tensors and ops to a Graph and hands back tensor indices.
 * @example
 * const g = new GraphBuilder();
 * const x = g.tensor({ name: 'x', shape: [1, 4], type: 'FLOAT32' });
 */
export class GraphBuilder {
  readonly graph: Graph = { tensors: [], ops: [], inputs: [], outputs: [] };

  tensor(t: GraphTensor): number {
    this.graph.tensors.push(t);
    return this.graph.tensors.length - 1;
  }

  constF32(name: string, shape: number[], values: Float32Array): number {
    return this.tensor({ name, shape, type: 'FLOAT32', data: bytesOf(values) });
  }

  constI32(name: string, shape: number[], values: number[] | Int32Array): number {
    return this.tensor({ name, shape, type: 'INT32', data: bytesOf(Int32Array.from(values)) });
  }

  op(o: GraphOp): void {
    this.graph.ops.push(o);
  }
}

/**
 * The ops reading each tensor, by tensor index, in graph order.
 * @example const readers = consumersOf(graph).get(t) ?? [];
 */
export function consumersOf(g: Graph): Map<number, GraphOp[]> {
  const m = new Map<number, GraphOp[]>();
  for (const op of g.ops) for (const t of op.inputs) m.set(t, [...(m.get(t) ?? []), op]);
  return m;
}

/**
 * Removes tensors no op or graph edge refers to (the float originals of replaced weights).
 * @example const smaller = dropUnused(graph);
 */
export function dropUnused(g: Graph): Graph {
  const used = new Set<number>([...g.inputs, ...g.outputs]);
  for (const o of g.ops) for (const t of [...o.inputs, ...o.outputs]) if (t >= 0) used.add(t);
  const remap = new Map<number, number>();
  const tensors: GraphTensor[] = [];
  g.tensors.forEach((t, i) => {
    if (used.has(i)) remap.set(i, tensors.push(t) - 1);
  });
  const m = (i: number) => (i < 0 ? i : (remap.get(i) as number));
  return {
    ...g,
    tensors,
    ops: g.ops.map((o) => ({ ...o, inputs: o.inputs.map(m), outputs: o.outputs.map(m) })),
    inputs: g.inputs.map(m),
    outputs: g.outputs.map(m),
  };
}
