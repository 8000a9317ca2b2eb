/**
 * Serialises a Graph into a `.tflite` flatbuffer with the `flatbuffers` builder. Field slots follow
 * TensorFlow Lite's schema (Model version 3, identifier "TFL3", buffer 0 = empty sentinel).
 */
import { Builder } from 'flatbuffers';
import { ModelError, type Graph, type GraphTensor } from '@edge-dmp/core';
import { checkInt8Spec } from '../int8-spec.js';
import {
  BuiltinOp,
  OPTIONS,
  TensorType,
  type FieldKind,
  type OptionValues,
  type OptionsName,
} from '@edge-dmp/core';

/** Builder internals needed to place a 16-byte aligned byte vector (Buffer.data is force_align: 16). */
interface BuilderInternals {
  space: number;
  bb: { setPosition(p: number): void; bytes(): Uint8Array };
}

function alignedBytes(b: Builder, data: Uint8Array): number {
  b.startVector(1, data.length, 16);
  const inner = b as unknown as BuilderInternals;
  inner.space -= data.length;
  inner.bb.setPosition(inner.space);
  inner.bb.bytes().set(data, inner.space);
  return b.endVector();
}

function intVector(b: Builder, v: readonly number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]);
  return b.endVector();
}

function floatVector(b: Builder, v: readonly number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addFloat32(v[i]);
  return b.endVector();
}

function longVector(b: Builder, v: readonly number[]): number {
  b.startVector(8, v.length, 8);
  for (let i = v.length - 1; i >= 0; i--) b.addInt64(BigInt(v[i]));
  return b.endVector();
}

function offsetVector(b: Builder, v: readonly number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]);
  return b.endVector();
}

function writeOptions(b: Builder, kind: OptionsName, values: OptionValues): number {
  const spec = OPTIONS[kind].fields as readonly (readonly [string, FieldKind])[];
  // Vectors are created before the table starts (flatbuffers forbids nesting).
  const vecs = spec.map(([name, k]) =>
    k === 'i32[]' && Array.isArray(values[name]) ? intVector(b, values[name] as number[]) : 0,
  );
  b.startObject(spec.length);
  spec.forEach(([name, k], slot) => {
    const v = values[name];
    if (v === undefined) return;
    if (k === 'i32[]') b.addFieldOffset(slot, vecs[slot], 0);
    else if (k === 'i8') b.addFieldInt8(slot, Number(v), 0);
    else if (k === 'bool') b.addFieldInt8(slot, v ? 1 : 0, 0);
    else if (k === 'i32') b.addFieldInt32(slot, Number(v), 0);
    else b.addFieldFloat32(slot, Number(v), 0);
  });
  return b.endObject();
}

const VECTOR_WRITERS = { i32: intVector, f32: floatVector, i64: longVector };

/**
 * Writes each distinct vector once and hands back the same offset for repeats: flatbuffers allows
 * several tables to point at one vector. Per-channel int8 models repeat the same all-zero int64
 * zero-point vector (8 bytes per channel) for every weight and bias tensor with that channel count,
 * and the same shapes for many activations; sharing them keeps the metadata the schema asks for at
 * a fraction of the bytes.
 */
class VectorPool {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly b: Builder,
    private readonly share: boolean,
  ) {}
  get(kind: keyof typeof VECTOR_WRITERS, v: readonly number[]): number {
    if (!this.share) return VECTOR_WRITERS[kind](this.b, v);
    const key = `${kind}:${v.join(',')}`;
    let off = this.seen.get(key);
    if (off === undefined) {
      off = VECTOR_WRITERS[kind](this.b, v);
      this.seen.set(key, off);
    }
    return off;
  }
}

function writeQuant(b: Builder, pool: VectorPool, t: GraphTensor): number {
  const q = t.quant;
  if (!q) return 0;
  const min = q.min ? pool.get('f32', q.min) : 0;
  const max = q.max ? pool.get('f32', q.max) : 0;
  const scale = pool.get('f32', q.scale);
  const zp = pool.get('i64', q.zeroPoint);
  b.startObject(7);
  if (min) b.addFieldOffset(0, min, 0);
  if (max) b.addFieldOffset(1, max, 0);
  b.addFieldOffset(2, scale, 0);
  b.addFieldOffset(3, zp, 0);
  b.addFieldInt32(6, q.dimension ?? 0, 0);
  return b.endObject();
}

export interface WriteOptions {
  /** Write repeated shape / scale / zero-point vectors once (default true; false for comparisons). */
  shareVectors?: boolean;
  /**
   * Check TFLite's int8 quantization spec first (int8-spec.ts) and refuse a breaking graph with a
   * QuantizationSpecError. Default true; false only to write a crafted bad file in a test.
   */
  checkSpec?: boolean;
}

/**
 * Serialises a graph to `.tflite` bytes.
 * @example
 * const bytes = writeTflite(graph); // Uint8Array starting with a root offset then "TFL3"
 */
export function writeTflite(g: Graph, o: WriteOptions = {}): Uint8Array {
  if (o.checkSpec ?? true) checkInt8Spec(g);
  const b = new Builder(1024 * 1024);
  b.forceDefaults(true);
  // Buffers: 0 is the empty sentinel; every constant tensor gets its own.
  const bufferOffsets: number[] = [];
  b.startObject(3);
  bufferOffsets.push(b.endObject());
  const bufferIndex: number[] = [];
  g.tensors.forEach((t, i) => {
    if (!t.data) {
      bufferIndex[i] = 0;
      return;
    }
    const count = t.shape.reduce((a, c) => a * c, 1);
    const bytes = { FLOAT32: 4, FLOAT16: 2, INT32: 4, UINT8: 1, INT64: 8, INT8: 1 }[t.type];
    if (t.data.length !== count * bytes) {
      throw new ModelError({
        field: `tensor ${t.name}`,
        expected: `${count * bytes} bytes of ${t.type} for shape [${t.shape}]`,
        received: `${t.data.length} bytes`,
      });
    }
    const data = alignedBytes(b, t.data);
    b.startObject(3);
    b.addFieldOffset(0, data, 0);
    bufferOffsets.push(b.endObject());
    bufferIndex[i] = bufferOffsets.length - 1;
  });

  const pool = new VectorPool(b, o.shareVectors ?? true);
  const tensorOffsets = g.tensors.map((t, i) => {
    const shape = pool.get('i32', t.shape);
    const name = b.createString(t.name);
    const quant = writeQuant(b, pool, t);
    b.startObject(8);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, TensorType[t.type], 0);
    b.addFieldInt32(2, bufferIndex[i], 0);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });

  // Operator codes: one per (op, version).
  const codeKeys: string[] = [];
  const opcodeIndex = g.ops.map((o) => {
    const key = `${o.op}:${o.version ?? 1}`;
    let i = codeKeys.indexOf(key);
    if (i < 0) i = codeKeys.push(key) - 1;
    return i;
  });
  const codeOffsets = codeKeys.map((key) => {
    const [name, version] = key.split(':');
    const code = BuiltinOp[name as keyof typeof BuiltinOp];
    b.startObject(4);
    b.addFieldInt8(0, Math.min(code, 127), 0);
    b.addFieldInt32(2, Number(version), 1);
    b.addFieldInt32(3, code, 0);
    return b.endObject();
  });

  const opOffsets = g.ops.map((o, i) => {
    const inputs = intVector(b, o.inputs);
    const outputs = intVector(b, o.outputs);
    const opts = o.options ? writeOptions(b, o.options.kind, o.options.values) : 0;
    b.startObject(5);
    b.addFieldInt32(0, opcodeIndex[i], 0);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (o.options) {
      b.addFieldInt8(3, OPTIONS[o.options.kind].tag, 0);
      b.addFieldOffset(4, opts, 0);
    }
    return b.endObject();
  });

  const tensorsVec = offsetVector(b, tensorOffsets);
  const inVec = intVector(b, g.inputs);
  const outVec = intVector(b, g.outputs);
  const opsVec = offsetVector(b, opOffsets);
  const sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(0, tensorsVec, 0);
  b.addFieldOffset(1, inVec, 0);
  b.addFieldOffset(2, outVec, 0);
  b.addFieldOffset(3, opsVec, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();

  const codesVec = offsetVector(b, codeOffsets);
  const sgVec = offsetVector(b, [subgraph]);
  const desc = b.createString(g.description ?? 'edge-dmp');
  const buffersVec = offsetVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, codesVec, 0);
  b.addFieldOffset(2, sgVec, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, buffersVec, 0);
  const model = b.endObject();
  b.finish(model, 'TFL3');
  return b.asUint8Array().slice();
}
