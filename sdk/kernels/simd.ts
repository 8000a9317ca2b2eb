/**
 * The SIMD WebAssembly kernels (simd/source.ts), instantiated on the tfjs wasm backend's own
 * memory so they read and write tensors in place. One instance per backend; absent when the
 * runtime lacks WebAssembly SIMD or the backend does not expose its memory (callers fall back to JS).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { SIMD_WASM_BASE64 } from './simd/binary.js';
import { wasmMemory, type WasmMemory } from './wasm-backend.js';

type I = number;
/** Exports of the module; every pointer and stride is in bytes, `rows`/`c` in elements. */
export interface SimdExports {
  col_sum(x: I, xs: I, acc: I, rows: I, c: I): void;
  col_sq_dev(x: I, xs: I, mean: I, acc: I, rows: I, c: I): void;
  bn_grad_sums(dy: I, dys: I, x: I, xs: I, mean: I, s1: I, s2: I, rows: I, c: I): void;
  affine(x: I, xs: I, y: I, ys: I, a: I, b: I, rows: I, c: I): void;
  affine2(dy: I, dys: I, x: I, xs: I, dx: I, dxs: I, k1: I, k2: I, k3: I, rows: I, c: I): void;
  swish_grad(dy: I, dys: I, x: I, xs: I, s: I, ss: I, dx: I, dxs: I, rows: I, c: I): void;
  row_dot_acc(a: I, as: I, b: I, bs: I, acc: I, rows: I, c: I): void;
  row_axpy(a: I, as: I, out: I, outs: I, w: I, rows: I, c: I): void;
  adam(
    w: I,
    ws: I,
    m: I,
    ms: I,
    v: I,
    vs: I,
    g: I,
    gs: I,
    wo: I,
    wos: I,
    mo: I,
    mos: I,
    vo: I,
    vos: I,
    k: I,
    rows: I,
    c: I,
  ): void;
  matmul_nt(a: I, b: I, out: I, m: I, n: I, k: I): void;
  matmul_tn(a: I, b: I, out: I, m: I, k: I, n: I): void;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: { env: { memory: WasmMemory } }) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}

const instances = new WeakMap<BackendWasm, SimdExports | null>();
let enabled = true;
let bytes: Uint8Array | undefined;

/**
 * Turns the SIMD kernels off (JS loops instead) or back on; tests use it to cover both paths.
 *
 * @example
 * setSimdEnabled(false); // pure-JS kernels from now on
 */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

/** The SIMD kernels for this backend, or undefined where they cannot run. */
export function simdKernels(backend: BackendWasm): SimdExports | undefined {
  if (!enabled) return undefined;
  let inst = instances.get(backend);
  if (inst === undefined) {
    inst = null;
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    const memory = wasmMemory(backend);
    bytes ??= Uint8Array.from(Buffer.from(SIMD_WASM_BASE64, 'base64'));
    if (api && memory && api.validate(bytes)) {
      inst = new api.Instance(new api.Module(bytes), { env: { memory } }).exports as SimdExports;
    }
    instances.set(backend, inst);
  }
  return inst ?? undefined;
}

/** Rows per chunk for float32 SIMD sums; chunks are added in float64 (error grows with chunk, not tensor, size). */
export const SUM_CHUNK_ROWS = 512;

/**
 * Sums in chunks: `f(r0, n)` accumulates rows [r0, r0 + n) into the zeroed float32 scratch view
 * returned by `scratch()`; each chunk's result is added to a float64 total, which is returned.
 */
export function chunkedSum(
  rows: number,
  len: number,
  scratch: () => Float32Array,
  f: (r0: number, n: number) => void,
): Float64Array {
  const total = new Float64Array(len);
  for (let r0 = 0; r0 < rows; r0 += SUM_CHUNK_ROWS) {
    scratch().fill(0);
    f(r0, Math.min(SUM_CHUNK_ROWS, rows - r0));
    const s = scratch();
    for (let i = 0; i < len; i++) total[i] += s[i];
  }
  return total;
}
