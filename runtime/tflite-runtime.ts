/**
 * The TFLite runtime in plain Node: loads the emscripten builds that ship inside
 * `@tensorflow/tfjs-tflite` (`wasm/tflite_web_api_cc*.js`), which run without browser globals when
 * handed their `.wasm` bytes. SIMD build by default, plain build where WebAssembly SIMD is missing
 * (or `simd: false`), threaded builds when `threads > 1` (emscripten pthreads need a `Worker`
 * global, provided here on top of `worker_threads`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker as ThreadWorker } from 'node:worker_threads';
import { EdgeDmpError, ConfigError, type ErrorDetail, readTflite } from '@edge-dmp/core';

export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int8' | 'uint8' | 'int32';
  quantization?: { scale: number; zeroPoint: number };
}

export interface TfliteModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  infer(inputs: ArrayBufferView[]): (Float32Array | Int8Array | Uint8Array | Int32Array)[];
  /** Per-op timings of the `infer()` calls so far (load with `profile: true`; else empty). */
  profile(): OpProfile;
  dispose(): void;
}

/** The runtime profiler's view of a model: its nodes in run order, averaged over the calls so far. */
export interface OpProfile {
  /** Top-level nodes: builtin ops and delegate partitions (`TfLiteXNNPackDelegate`). */
  nodes: { type: string; name: string; avgMs: number }[];
  /** Number of XNNPACK partitions. */
  partitions: number;
  /** Builtin ops run outside the delegate: type -> count. */
  outside: Record<string, number>;
  /** Ops inside the delegate (XNNPACK operator names, e.g. `Convolution (NHWC, QS8) DWConv`) -> total ms. */
  delegated: Record<string, number>;
}

/**
 * Parses the runtime's profiling summary (TFLite's ProfileSummaryDefaultFormatter text).
 * @example const p = parseProfileSummary(summaryText); // p.partitions
 */
export function parseProfileSummary(text: string): OpProfile {
  const out: OpProfile = { nodes: [], partitions: 0, outside: {}, delegated: {} };
  // Two reports (the interpreter's, then 'Delegate internal:'), each with a 'Run Order' table.
  let delegate = false;
  let section = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('Delegate internal')) delegate = true;
    if (line.includes('=====')) section = line.includes('Run Order') ? (delegate ? 'delegate' : 'run') : '';
    const cells = line
      .split('\t')
      .map((c) => c.trim())
      .filter(Boolean);
    if (cells.length < 8 || cells[0] === '[node type]' || Number.isNaN(Number(cells[2]))) continue;
    const [type, , avg, , , , , name] = cells;
    if (section === 'run') {
      out.nodes.push({ type, name, avgMs: Number(avg) });
      if (type === 'TfLiteXNNPackDelegate') out.partitions++;
      else out.outside[type] = (out.outside[type] ?? 0) + 1;
    } else if (section === 'delegate' && type === 'DelegateOpInvoke') {
      const op = name.replace(/^Delegate\//, '').replace(/:\d+$/, '');
      out.delegated[op] = (out.delegated[op] ?? 0) + Number(avg);
    }
  }
  return out;
}

export interface RuntimeOptions {
  /** Interpreter threads; > 1 selects the threaded build. Default 1. */
  threads?: number;
  /** Use the SIMD build; default: when the engine supports WebAssembly SIMD. */
  simd?: boolean;
  /** Record per-op timings of each `infer()` (the runtime's own profiler); read with `profile()`. */
  profile?: boolean;
}

/** The TFLite runtime refused a model or failed to run it; `log` holds the runtime's own lines. */
export class TfliteRuntimeError extends EdgeDmpError {
  readonly log: string[];
  constructor(detail: ErrorDetail, log: string[]) {
    super('E_TFLITE', detail);
    this.log = log;
    if (log.length) this.message += `\nruntime log:\n${log.join('\n')}`;
  }
}

interface TensorInfo {
  id: number;
  dataType: string;
  name: string;
  shape: string;
  data(): Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array | Float64Array;
  delete?(): void;
}
interface CppVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}
interface Runner {
  GetInputs(): CppVector<TensorInfo>;
  GetOutputs(): CppVector<TensorInfo>;
  GetProfilingSummary(): string;
  Infer(): boolean;
  delete(): void;
}
interface StatusOr {
  ok(): boolean;
  errorMessage(): string;
  value(): Runner;
  delete(): void;
}
interface EmModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(
      ptr: number,
      len: number,
      o: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number },
    ): StatusOr;
  };
}

/** A loaded emscripten instance plus the sink its print/printErr write to. */
interface Instance {
  module: EmModule;
  log: string[];
  variant: string;
}

const require = createRequire(import.meta.url);
/**
 * The emscripten builds: carried in this package's `wasm/` (copied there by `npm run build`, so a
 * board installs no tfjs package), else taken from `@tensorflow/tfjs-tflite` (a source checkout).
 */
function wasmDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const d of [join(here, 'wasm'), join(here, '..', 'wasm')]) {
    if (existsSync(join(d, 'tflite_web_api_cc_simd.wasm'))) return d;
  }
  return join(dirname(require.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');
}
const WASM_DIR = wasmDir();

// A minimal module whose only function uses a v128 instruction: validates iff SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11,
]);

/**
 * Whether this engine supports WebAssembly SIMD.
 * @example const m = await loadTfliteModel(bytes, { simd: simdSupported() });
 */
export function simdSupported(): boolean {
  // The WebAssembly namespace is not in the ES2022 lib typings.
  const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
  return wasm.validate(SIMD_PROBE);
}

// The thread shim's worker side: gives the emscripten worker script the browser-worker globals it uses.
const WORKER_BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const fs = require('node:fs');
globalThis.self = globalThis;
self.location = { href: workerData.dir + '/' };
globalThis.postMessage = (m, t) => parentPort.postMessage(m, t);
globalThis.importScripts = (f) => vm.runInThisContext(fs.readFileSync(f, 'utf8'), { filename: f });
parentPort.on('message', (data) => { if (self.onmessage) self.onmessage({ data }); });
importScripts(workerData.script);
`;

/** A browser-style `Worker` on top of `worker_threads`, enough for emscripten pthreads. */
class NodeWorkerShim {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  private readonly w: ThreadWorker;
  constructor(script: string) {
    this.w = new ThreadWorker(WORKER_BOOT, { eval: true, workerData: { script, dir: WASM_DIR } });
    this.w.on('message', (data) => this.onmessage?.({ data }));
    this.w.on('error', (e) => this.onerror?.(e));
    NodeWorkerShim.all.push(this.w);
    if (NodeWorkerShim.started) this.w.unref();
  }
  static all: ThreadWorker[] = [];
  static started = false;
  /** Pool threads must not keep the process alive once the module is up (they stay ref'd while loading). */
  static unrefAll(): void {
    NodeWorkerShim.started = true;
    for (const w of NodeWorkerShim.all) w.unref();
  }
  postMessage(m: unknown, transfer?: readonly unknown[]): void {
    this.w.postMessage(m, transfer as never);
  }
  terminate(): void {
    void this.w.terminate();
  }
}

const instances = new Map<string, Promise<Instance>>();

function variantOf(opts: RuntimeOptions): string {
  const simd = opts.simd ?? simdSupported();
  if (simd && !simdSupported()) {
    throw new ConfigError({
      field: 'simd',
      expected: 'false on an engine without WebAssembly SIMD',
      received: true,
    });
  }
  const threaded = (opts.threads ?? 1) > 1;
  return `tflite_web_api_cc${simd ? '_simd' : ''}${threaded ? '_threaded' : ''}`;
}

/**
 * Loads (once per build variant) the emscripten module and returns it; later calls reuse it.
 * @example const inst = await loadRuntime({ simd: false });
 */
async function loadRuntime(opts: RuntimeOptions): Promise<Instance> {
  const variant = variantOf(opts);
  let p = instances.get(variant);
  if (!p) {
    p = (async () => {
      const threaded = variant.endsWith('_threaded');
      const g = globalThis as Record<string, unknown>;
      if (threaded && typeof g.Worker === 'undefined') g.Worker = NodeWorkerShim;
      const factory = require(join(WASM_DIR, `${variant}.js`)) as (m: object) => Promise<EmModule>;
      const log: string[] = [];
      const sink = (s: string) => {
        log.push(String(s));
        if (log.length > 200) log.shift();
      };
      const module = await factory({
        wasmBinary: readFileSync(join(WASM_DIR, `${variant}.wasm`)),
        print: sink,
        printErr: sink,
        locateFile: (f: string) => join(WASM_DIR, f),
        mainScriptUrlOrBlob: join(WASM_DIR, `${variant}.js`),
      });
      if (threaded) NodeWorkerShim.unrefAll();
      return { module, log, variant };
    })();
    instances.set(variant, p);
    p.catch(() => instances.delete(variant));
  }
  return p;
}

const DTYPES: Record<string, TensorSpec['dtype']> = {
  float32: 'float32',
  int8: 'int8',
  uint8: 'uint8',
  int32: 'int32',
};
const ARRAYS = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array } as const;

function vectorToArray<T>(v: CppVector<T>): T[] {
  try {
    return Array.from({ length: v.size() }, (_, i) => v.get(i));
  } finally {
    v.delete();
  }
}

/**
 * Loads a `.tflite` model into the TFLite WASM runtime.
 * @example
 * const m = await loadTfliteModel(readFileSync('model.tflite'));
 * const [logits] = m.infer([new Float32Array(32 * 32 * 3)]);
 * m.dispose();
 */
export async function loadTfliteModel(bytes: Uint8Array, opts: RuntimeOptions = {}): Promise<TfliteModel> {
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError({ field: 'threads', expected: 'an integer >= 1', received: opts.threads });
  }
  // Quantization parameters are not exposed by the runner; read them from the flatbuffer.
  let graph: ReturnType<typeof readTflite> | undefined;
  try {
    graph = readTflite(bytes);
  } catch (e) {
    throw new TfliteRuntimeError(
      {
        field: 'model',
        expected: 'a .tflite flatbuffer (identifier "TFL3")',
        received: `${bytes.length} bytes`,
      },
      [(e as Error).message],
    );
  }
  const inst = await loadRuntime(opts);
  const m = inst.module;
  const logStart = inst.log.length;
  const ptr = m._malloc(bytes.length);
  m.HEAPU8.set(bytes, ptr);
  const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, bytes.length, {
    numThreads: threads,
    enableProfiling: opts.profile ?? false,
    maxProfilingBufferEntries: 1024,
  });
  if (!status.ok()) {
    const msg = status.errorMessage();
    status.delete();
    m._free(ptr);
    throw new TfliteRuntimeError(
      { field: 'model', expected: 'a model the TFLite runtime accepts', received: msg },
      inst.log.slice(logStart),
    );
  }
  const runner = status.value();
  status.delete();
  const inInfo = vectorToArray(runner.GetInputs());
  const outInfo = vectorToArray(runner.GetOutputs());
  const spec = (info: TensorInfo, tensorIndex: number | undefined): TensorSpec => {
    const dtype = DTYPES[info.dataType];
    if (!dtype) {
      throw new TfliteRuntimeError(
        { field: `tensor ${info.name}`, expected: 'float32, int8, uint8 or int32', received: info.dataType },
        [],
      );
    }
    const s: TensorSpec = { name: info.name, shape: info.shape.split(',').map(Number), dtype };
    const q = tensorIndex === undefined ? undefined : graph?.tensors[tensorIndex]?.quant;
    if (q && dtype !== 'float32' && q.scale.length === 1)
      s.quantization = { scale: q.scale[0], zeroPoint: q.zeroPoint[0] };
    return s;
  };
  let inputs: TensorSpec[];
  let outputs: TensorSpec[];
  try {
    inputs = inInfo.map((t, i) => spec(t, graph?.inputs[i]));
    outputs = outInfo.map((t, i) => spec(t, graph?.outputs[i]));
  } catch (e) {
    for (const t of [...inInfo, ...outInfo]) t.delete?.();
    runner.delete();
    m._free(ptr);
    throw e;
  }
  let disposed = false;
  return {
    inputs,
    outputs,
    infer(data: ArrayBufferView[]) {
      if (disposed)
        throw new ConfigError({ field: 'model', expected: 'a model not yet disposed', received: 'disposed' });
      if (data.length !== inputs.length) {
        throw new ConfigError({
          field: 'inputs',
          expected: `${inputs.length} input array(s)`,
          received: data.length,
        });
      }
      inputs.forEach((s, i) => {
        const want = ARRAYS[s.dtype];
        const d = data[i];
        const n = s.shape.reduce((a, c) => a * c, 1);
        if (!(d instanceof want) || d.length !== n) {
          throw new ConfigError({
            field: `inputs[${i}] (${s.name})`,
            expected: `${want.name} of ${n} elements (shape [${s.shape}])`,
            received: `${d?.constructor?.name} of ${(d as Float32Array)?.length} elements`,
          });
        }
        // data() is re-read each call: a heap growth detaches earlier views.
        (inInfo[i].data() as Float32Array).set(d as Float32Array);
      });
      const before = inst.log.length;
      if (!runner.Infer()) {
        throw new TfliteRuntimeError(
          { field: 'infer', expected: 'a successful TFLite Invoke()', received: false },
          inst.log.slice(before),
        );
      }
      return outInfo.map((t) => {
        const v = t.data();
        return (v as Float32Array).slice() as Float32Array | Int8Array | Uint8Array | Int32Array;
      });
    },
    profile() {
      return parseProfileSummary(opts.profile ? runner.GetProfilingSummary() : '');
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of [...inInfo, ...outInfo]) t.delete?.();
      runner.delete();
      m._free(ptr);
    },
  };
}

/**
 * Bytes of WASM memory held by a loaded runtime variant (for leak checks); 0 when not loaded.
 * @example const before = await runtimeHeapBytes();
 */
export async function runtimeHeapBytes(opts: RuntimeOptions = {}): Promise<number> {
  const p = instances.get(variantOf(opts));
  return p ? (await p).module.HEAPU8.length : 0;
}

/**
 * Allocates and frees a probe block to learn where the allocator's free space starts; equal values
 * before and after many load/dispose cycles mean nothing leaked.
 * @example const mark = await runtimeAllocMark();
 */
export async function runtimeAllocMark(size = 1 << 20, opts: RuntimeOptions = {}): Promise<number> {
  const m = (await loadRuntime(opts)).module;
  const p = m._malloc(size);
  m._free(p);
  return p;
}
