/**
 * A small `.tflite` reader: enough to list tensors (shape, type, quantization, constant data) and
 * operators (code, version, inputs, outputs, options) for tests and `inspect`. Reads the flatbuffer
 * by vtable slot, mirroring the writer.
 */
import { ByteBuffer } from 'flatbuffers';
import { ModelError } from '../errors.js';
import type { Graph, GraphOp, GraphTensor } from './graph.js';
import {
  BuiltinOp,
  OPTIONS,
  TensorType,
  nameOf,
  type BuiltinOpName,
  type FieldKind,
  type OptionValues,
  type OptionsName,
  type TensorTypeName,
} from './schema.js';

class Table {
  constructor(
    readonly bb: ByteBuffer,
    readonly pos: number,
  ) {}

  private field(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }
  has(slot: number): boolean {
    return this.field(slot) !== 0;
  }
  i8(slot: number, d = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt8(this.pos + o) : d;
  }
  u8(slot: number, d = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint8(this.pos + o) : d;
  }
  i32(slot: number, d = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt32(this.pos + o) : d;
  }
  f32(slot: number, d = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readFloat32(this.pos + o) : d;
  }
  str(slot: number): string {
    const o = this.field(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : '';
  }
  table(slot: number): Table | undefined {
    const o = this.field(slot);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : undefined;
  }
  /** Start and length of a vector field. */
  vec(slot: number): [number, number] {
    const o = this.field(slot);
    if (!o) return [0, 0];
    return [this.bb.__vector(this.pos + o), this.bb.__vector_len(this.pos + o)];
  }
  i32s(slot: number): number[] {
    const [s, n] = this.vec(slot);
    return Array.from({ length: n }, (_, i) => this.bb.readInt32(s + 4 * i));
  }
  f32s(slot: number): number[] {
    const [s, n] = this.vec(slot);
    return Array.from({ length: n }, (_, i) => this.bb.readFloat32(s + 4 * i));
  }
  i64s(slot: number): number[] {
    const [s, n] = this.vec(slot);
    return Array.from({ length: n }, (_, i) => Number(this.bb.readInt64(s + 8 * i)));
  }
  bytes(slot: number): Uint8Array {
    const [s, n] = this.vec(slot);
    return this.bb.bytes().subarray(s, s + n);
  }
  tables(slot: number): Table[] {
    const [s, n] = this.vec(slot);
    return Array.from({ length: n }, (_, i) => new Table(this.bb, this.bb.__indirect(s + 4 * i)));
  }
}

/** A parsed model: the graph plus per-op versions and the model-level description. */
export interface ReadModel extends Graph {
  version: number;
  /** Total bytes of constant buffers. */
  constantBytes: number;
}

function readOptions(t: Table, kind: OptionsName): OptionValues {
  const out: OptionValues = {};
  (OPTIONS[kind].fields as readonly (readonly [string, FieldKind])[]).forEach(([name, k], slot) => {
    if (k === 'i32[]') out[name] = t.i32s(slot);
    else if (k === 'bool') out[name] = t.u8(slot) !== 0;
    else if (k === 'i8') out[name] = t.i8(slot);
    else if (k === 'i32') out[name] = t.i32(slot);
    else out[name] = t.f32(slot);
  });
  return out;
}

/**
 * Parses `.tflite` bytes (first subgraph) back into a Graph.
 * @example
 * const m = readTflite(bytes);
 * console.log(m.ops.map((o) => o.op)); // ['CONV_2D', 'LOGISTIC', 'MUL', ...]
 */
export function readTflite(bytes: Uint8Array): ReadModel {
  const bb = new ByteBuffer(bytes);
  if (bytes.length < 8 || !bb.__has_identifier('TFL3')) {
    throw new ModelError({
      field: 'tflite',
      expected: 'a flatbuffer with identifier "TFL3"',
      received: `${bytes.length} bytes`,
    });
  }
  const model = new Table(bb, bb.readInt32(bb.position()) + bb.position());
  const buffers = model.tables(4).map((t) => t.bytes(0));
  const codes = model.tables(1).map((c) => {
    const code = c.has(3) ? c.i32(3) : c.i8(0);
    return { op: (nameOf(BuiltinOp, code) ?? `OP_${code}`) as BuiltinOpName, version: c.i32(2, 1) };
  });
  const sg = model.tables(2)[0];
  if (!sg)
    throw new ModelError({ field: 'tflite subgraphs', expected: 'at least one subgraph', received: 0 });
  const tensors: GraphTensor[] = sg.tables(0).map((t) => {
    const type = (nameOf(TensorType, t.i8(1)) ?? `TYPE_${t.i8(1)}`) as TensorTypeName;
    const buf = buffers[t.i32(2)];
    const q = t.table(4);
    const tensor: GraphTensor = { name: t.str(3), shape: t.i32s(0), type };
    if (buf && buf.length) tensor.data = buf;
    if (q && q.has(2)) {
      tensor.quant = { scale: q.f32s(2), zeroPoint: q.i64s(3), dimension: q.i32(6) };
      if (q.has(0)) tensor.quant.min = q.f32s(0);
      if (q.has(1)) tensor.quant.max = q.f32s(1);
    }
    return tensor;
  });
  const tagToKind = new Map(Object.entries(OPTIONS).map(([k, v]) => [v.tag as number, k as OptionsName]));
  const ops: GraphOp[] = sg.tables(3).map((o) => {
    const code = codes[o.i32(0)];
    const op: GraphOp = { op: code.op, version: code.version, inputs: o.i32s(1), outputs: o.i32s(2) };
    const kind = tagToKind.get(o.u8(3));
    const ot = o.table(4);
    if (kind && ot) op.options = { kind, values: readOptions(ot, kind) };
    return op;
  });
  return {
    version: model.i32(0),
    description: model.str(3),
    tensors,
    ops,
    inputs: sg.i32s(1),
    outputs: sg.i32s(2),
    constantBytes: buffers.reduce((a, b) => a + b.length, 0),
  };
}
