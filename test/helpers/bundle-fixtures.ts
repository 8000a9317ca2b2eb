/**
 * Parts for the bundle tests: a zip writer with full control over every header field (so tests can
 * build archives that lie: `..` names, duplicate entries, false sizes), and bundle contents.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import { unzipSync, zipSync } from 'fflate';
import type { BundleContents } from '../../converter/index.js';
import { GraphBuilder } from '../../core/tflite/graph.js';
import { writeTflite } from '../../converter/tflite/writer.js';
import { defaultPreprocess } from '../../core/preprocess.js';

export interface RawEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate (default 8). */
  method?: 0 | 8;
  /** Uncompressed size written in the headers (default: the real one). */
  declaredSize?: number;
  /** CRC written in the headers (default: the real one). */
  crc?: number;
  /** Bytes written as the entry's (compressed) body instead of compressing `data`. */
  body?: Uint8Array;
}

/** Writes a zip archive byte by byte from the given entries, in order, duplicates allowed. */
export function rawZip(entries: RawEntry[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const method = e.method ?? 8;
    const body = e.body ? Buffer.from(e.body) : method === 8 ? deflateRawSync(e.data) : Buffer.from(e.data);
    const name = Buffer.from(e.name, 'utf8');
    const crc = e.crc ?? crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, eocd]));
}

/** The entries of a (well-formed) bundle, in archive order. */
export function entriesOf(bundle: Uint8Array): RawEntry[] {
  return Object.entries(unzipSync(bundle)).map(([name, data]) => ({ name, data }));
}

/** Rezips a bundle after `edit` changed its entry map (tampering as an attacker would: valid zip). */
export function tamper(bundle: Uint8Array, edit: (files: Record<string, Uint8Array>) => void): Uint8Array {
  const files = unzipSync(bundle);
  edit(files);
  return zipSync(files);
}

/** Deterministic gray pixels for golden sample i. */
export function grayPixels(i: number, w = 8, h = 8): Uint8Array {
  return Uint8Array.from({ length: w * h }, (_, k) => (k * 13 + i * 71) & 255);
}

/** Bundle contents with stand-in model bytes (no runtime involved). */
/**
 * A real (tiny) .tflite for the toy bundle: [1,8,8,1] -> RESHAPE [1,64] -> FULLY_CONNECTED -> [1,3],
 * so readers that parse the model (verify, the device) see a well-formed flatbuffer.
 */
export function toyTflite(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.tensor({ name: 'input', shape: [1, 8, 8, 1], type: 'FLOAT32' });
  const flat = g.tensor({ name: 'flat', shape: [1, 64], type: 'FLOAT32' });
  const shape = g.constI32('shape', [2], [1, 64]);
  g.op({
    op: 'RESHAPE',
    inputs: [x, shape],
    outputs: [flat],
    options: { kind: 'ReshapeOptions', values: { new_shape: [1, 64] } },
  });
  const w = g.constF32(
    'w',
    [3, 64],
    Float32Array.from({ length: 192 }, (_, i) => ((i * 37) % 17) / 17 - 0.5),
  );
  const y = g.tensor({ name: 'logits', shape: [1, 3], type: 'FLOAT32' });
  g.op({ op: 'FULLY_CONNECTED', inputs: [flat, w, -1], outputs: [y] });
  g.graph.inputs.push(x);
  g.graph.outputs.push(y);
  return writeTflite(g.graph);
}

export function toyContents(over: Partial<BundleContents> = {}): BundleContents {
  return {
    tflite: toyTflite(),
    labels: ['t-shirt', 'trouser', 'pullover'],
    model: { name: 'toy-dmp', version: '2.1.0', variant: 'dmp', architecture: 'efficientnet-b0' },
    preprocess: { ...defaultPreprocess([8, 8], 1), mean: [0.5], std: [0.25] },
    quantization: { mode: 'int8', calibrationSamples: 200 },
    params: 2198150,
    macs: 1234567,
    reportCard: { top1Agreement: 0.995, perClass: [0.9, 0.8, 0.7] },
    provenance: {
      trainingRun: 'runs/fmnist-dmp',
      dataset: 'fashion-mnist',
      createdAt: '2026-11-29T12:00:00.000Z',
    },
    golden: [
      { pixels: { data: grayPixels(0), width: 8, height: 8, channels: 1 }, label: 'trouser', score: 0.875 },
      { pixels: { data: grayPixels(1), width: 8, height: 8, channels: 1 }, label: 'pullover', index: 2 },
    ],
    ...over,
  };
}
