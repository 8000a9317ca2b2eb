/**
 * A small `.tflite` reader: enough to list tensors (shape, type, quantization, constant data) and
 * operators (code, version, inputs, outputs, options) for tests, `inspect` and the runtime. Reads
 * the flatbuffer by vtable slot, mirroring the writer.
 *
 * The bytes may be hostile (a bundle's signature vouches for who made it, not that it is sane), so
 * every offset, vtable, vector length and element is checked against the buffer before it is read
 * or anything is allocated, and the total number of vector elements read is capped by the file
 * size (flatbuffers may share vectors, so a small file could otherwise make us read one huge
 * vector many times). Indices between tables (buffer, opcode, tensor) are range-checked too.
 */
import { ModelError } from '../errors.js';
import type { Graph, GraphOp, GraphTensor } from './graph.js';
import {
  BuiltinOp,
  OPTIONS,
  TYPE_BYTES,
  TensorType,
  nameOf,
  type BuiltinOpName,
  type FieldKind,
  type OptionValues,
  type OptionsName,
  type TensorTypeName,
} from './schema.js';

/** Largest element count accepted for one tensor (2^28: a 1 GiB float32 activation). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

function bad(field: string, expected: string, received: unknown): ModelError {
  return new ModelError({ field: `tflite ${field}`, expected, received });
}

/** The flatbuffer bytes with bounds-checked reads and an element budget. */
class Buf {
  readonly view: DataView;
  /** Vector elements still allowed to be read (see file comment). */
  budget: number;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = 2 * bytes.length + 65536;
  }
  need(pos: number, len: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || len < 0 || pos + len > this.bytes.length) {
      throw bad(what, `${len} bytes inside the ${this.bytes.length}-byte file`, `offset ${pos}`);
    }
  }
  u8(p: number, what: string) {
    this.need(p, 1, what);
    return this.view.getUint8(p);
  }
  i8(p: number, what: string) {
    this.need(p, 1, what);
    return this.view.getInt8(p);
  }
  u16(p: number, what: string) {
    this.need(p, 2, what);
    return this.view.getUint16(p, true);
  }
  i32(p: number, what: string) {
    this.need(p, 4, what);
    return this.view.getInt32(p, true);
  }
  u32(p: number, what: string) {
    this.need(p, 4, what);
    return this.view.getUint32(p, true);
  }
  f32(p: number, what: string) {
    this.need(p, 4, what);
    return this.view.getFloat32(p, true);
  }
  i64(p: number, what: string) {
    this.need(p, 8, what);
    return Number(this.view.getBigInt64(p, true));
  }
  /** Follows a uoffset at p. */
  indirect(p: number, what: string): number {
    return p + this.u32(p, what);
  }
  /** [start, length] of the vector whose uoffset is at p, checked to fit with `size`-byte elements. */
  vector(p: number, size: number, what: string): [number, number] {
    const start = this.indirect(p, what);
    const n = this.u32(start, `${what} length`);
    if (n * size > this.bytes.length - start - 4) {
      throw bad(
        `${what} length`,
        `at most ${Math.floor((this.bytes.length - start - 4) / size)} elements (file size)`,
        n,
      );
    }
    return [start + 4, n];
  }
  spend(n: number, what: string): void {
    this.budget -= n;
    if (this.budget < 0) {
      throw bad(
        what,
        `at most ${2 * this.bytes.length + 65536} vector elements in all (twice the file size)`,
        'more',
      );
    }
  }
}

class Table {
  private readonly vt: number;
  private readonly vtSize: number;
  constructor(
    readonly b: Buf,
    readonly pos: number,
    readonly what: string,
  ) {
    this.vt = pos - b.i32(pos, `${what} table`);
    this.vtSize = b.u16(this.vt, `${what} vtable`);
    if (this.vtSize < 4 || this.vtSize % 2) throw bad(`${what} vtable`, 'an even size >= 4', this.vtSize);
    b.need(this.vt, this.vtSize, `${what} vtable`);
  }

  private field(slot: number): number {
    const o = 4 + 2 * slot;
    return o < this.vtSize ? this.b.u16(this.vt + o, `${this.what} vtable`) : 0;
  }
  private at(slot: number): number {
    const o = this.field(slot);
    return o ? this.pos + o : 0;
  }
  has(slot: number): boolean {
    return this.field(slot) !== 0;
  }
  i8(slot: number, d = 0): number {
    const p = this.at(slot);
    return p ? this.b.i8(p, `${this.what} field ${slot}`) : d;
  }
  u8(slot: number, d = 0): number {
    const p = this.at(slot);
    return p ? this.b.u8(p, `${this.what} field ${slot}`) : d;
  }
  i32(slot: number, d = 0): number {
    const p = this.at(slot);
    return p ? this.b.i32(p, `${this.what} field ${slot}`) : d;
  }
  f32(slot: number, d = 0): number {
    const p = this.at(slot);
    return p ? this.b.f32(p, `${this.what} field ${slot}`) : d;
  }
  str(slot: number): string {
    const p = this.at(slot);
    if (!p) return '';
    const [s, n] = this.b.vector(p, 1, `${this.what} string`);
    return new TextDecoder().decode(this.b.bytes.subarray(s, s + n));
  }
  table(slot: number, what: string): Table | undefined {
    const p = this.at(slot);
    return p ? new Table(this.b, this.b.indirect(p, what), what) : undefined;
  }
  /** Start and length of a vector field of `size`-byte elements, charged to the budget. */
  vec(slot: number, size: number, what: string, charge = true): [number, number] {
    const p = this.at(slot);
    if (!p) return [0, 0];
    const [s, n] = this.b.vector(p, size, what);
    if (charge) this.b.spend(n, what);
    return [s, n];
  }
  private nums(slot: number, size: number, what: string, read: (p: number) => number): number[] {
    const [s, n] = this.vec(slot, size, what);
    return Array.from({ length: n }, (_, i) => read(s + size * i));
  }
  i32s(slot: number, what: string): number[] {
    return this.nums(slot, 4, what, (p) => this.b.i32(p, what));
  }
  f32s(slot: number, what: string): number[] {
    return this.nums(slot, 4, what, (p) => this.b.f32(p, what));
  }
  i64s(slot: number, what: string): number[] {
    return this.nums(slot, 8, what, (p) => this.b.i64(p, what));
  }
  /** A byte vector: a view, not a copy, so not charged. */
  bytes(slot: number, what: string): Uint8Array {
    const [s, n] = this.vec(slot, 1, what, false);
    return this.b.bytes.subarray(s, s + n);
  }
  tables(slot: number, what: string): Table[] {
    const [s, n] = this.vec(slot, 4, what);
    return Array.from(
      { length: n },
      (_, i) => new Table(this.b, this.b.indirect(s + 4 * i, what), `${what}[${i}]`),
    );
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
    if (k === 'i32[]') out[name] = t.i32s(slot, `${kind}.${name}`);
    else if (k === 'bool') out[name] = t.u8(slot) !== 0;
    else if (k === 'i8') out[name] = t.i8(slot);
    else if (k === 'i32') out[name] = t.i32(slot);
    else out[name] = t.f32(slot);
  });
  return out;
}

/** Indices into another table's vector: each in [lo, n). */
function indices(v: number[], n: number, what: string, lo = 0): number[] {
  const i = v.findIndex((x) => x < lo || x >= n);
  if (i >= 0) throw bad(`${what}[${i}]`, `an index in [${lo}, ${n})`, v[i]);
  return v;
}

function checkShape(t: GraphTensor, what: string): void {
  let count = 1;
  t.shape.forEach((d, i) => {
    if (d < 0) throw bad(`${what}.shape[${i}]`, 'a dimension >= 0', d);
    count *= d;
  });
  if (count > MAX_TENSOR_ELEMENTS) {
    throw bad(`${what}.shape`, `at most ${MAX_TENSOR_ELEMENTS} elements`, t.shape);
  }
  const size = TYPE_BYTES[t.type as keyof typeof TYPE_BYTES];
  if (t.data && size !== undefined && t.data.length !== count * size) {
    throw bad(`${what} buffer`, `${count * size} bytes for ${t.type} [${t.shape}]`, `${t.data.length} bytes`);
  }
}

/**
 * Parses `.tflite` bytes (first subgraph) back into a Graph. Hostile bytes give a ModelError
 * naming the offending part, never an unbounded allocation.
 * @example
 * const m = readTflite(bytes);
 * console.log(m.ops.map((o) => o.op)); // ['CONV_2D', 'LOGISTIC', 'MUL', ...]
 */
export function readTflite(bytes: Uint8Array): ReadModel {
  const ident = bytes.length >= 8 ? new TextDecoder('latin1').decode(bytes.subarray(4, 8)) : '';
  if (ident !== 'TFL3') {
    throw new ModelError({
      field: 'tflite',
      expected: 'a flatbuffer with identifier "TFL3"',
      received: `${bytes.length} bytes`,
    });
  }
  const b = new Buf(bytes);
  const model = new Table(b, b.indirect(0, 'root'), 'model');
  const buffers = model.tables(4, 'buffers').map((t, i) => t.bytes(0, `buffers[${i}].data`));
  const codes = model.tables(1, 'operator_codes').map((c) => {
    const code = c.has(3) ? c.i32(3) : c.i8(0);
    return { op: (nameOf(BuiltinOp, code) ?? `OP_${code}`) as BuiltinOpName, version: c.i32(2, 1) };
  });
  const sg = model.tables(2, 'subgraphs')[0];
  if (!sg)
    throw new ModelError({ field: 'tflite subgraphs', expected: 'at least one subgraph', received: 0 });
  const tensors: GraphTensor[] = sg.tables(0, 'tensors').map((t, i) => {
    const what = `tensors[${i}]`;
    const type = (nameOf(TensorType, t.i8(1)) ?? `TYPE_${t.i8(1)}`) as TensorTypeName;
    const bufIndex = t.i32(2);
    if (bufIndex < 0 || (bufIndex >= buffers.length && bufIndex !== 0)) {
      throw bad(`${what}.buffer`, `an index in [0, ${buffers.length})`, bufIndex);
    }
    const buf = buffers[bufIndex];
    const q = t.table(4, `${what}.quantization`);
    const tensor: GraphTensor = { name: t.str(3), shape: t.i32s(0, `${what}.shape`), type };
    if (buf && buf.length) tensor.data = buf;
    if (q && q.has(2)) {
      tensor.quant = {
        scale: q.f32s(2, `${what}.scale`),
        zeroPoint: q.i64s(3, `${what}.zero_point`),
        dimension: q.i32(6),
      };
      if (q.has(0)) tensor.quant.min = q.f32s(0, `${what}.min`);
      if (q.has(1)) tensor.quant.max = q.f32s(1, `${what}.max`);
    }
    checkShape(tensor, what);
    return tensor;
  });
  const tagToKind = new Map(Object.entries(OPTIONS).map(([k, v]) => [v.tag as number, k as OptionsName]));
  const ops: GraphOp[] = sg.tables(3, 'operators').map((o, i) => {
    const what = `operators[${i}]`;
    const code = codes[o.i32(0)];
    if (!code) throw bad(`${what}.opcode_index`, `an index in [0, ${codes.length})`, o.i32(0));
    const n = tensors.length;
    const op: GraphOp = {
      op: code.op,
      version: code.version,
      // -1 marks an omitted optional input.
      inputs: indices(o.i32s(1, `${what}.inputs`), n, `${what}.inputs`, -1),
      outputs: indices(o.i32s(2, `${what}.outputs`), n, `${what}.outputs`),
    };
    const kind = tagToKind.get(o.u8(3));
    const ot = o.table(4, `${what}.options`);
    if (kind && ot) op.options = { kind, values: readOptions(ot, kind) };
    return op;
  });
  return {
    version: model.i32(0),
    description: model.str(3),
    tensors,
    ops,
    inputs: indices(sg.i32s(1, 'subgraph inputs'), tensors.length, 'subgraph inputs'),
    outputs: indices(sg.i32s(2, 'subgraph outputs'), tensors.length, 'subgraph outputs'),
    constantBytes: buffers.reduce((a, x) => a + x.length, 0),
  };
}
