/**
 * Small bridge to the tfjs `wasm` backend for kernels written in TypeScript: tensor data lives
 * in the wasm heap, so kernels read and write it through views on that heap, and compose the
 * backend's own (XNNPACK) kernels by calling their kernel functions directly.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;

/** Calls a kernel already registered for `wasm` (no tape, no engine bookkeeping). */
export function runWasm(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
  return kernel.kernelFunc({
    inputs,
    backend,
    attrs: attrs as tf.NamedAttrMap,
  }) as TensorInfo;
}

/** A reshape that shares data (the wasm Reshape kernel increments the ref count). */
export function reshapeWasm(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return runWasm(backend, 'Reshape', { x }, { shape });
}

/** Releases an intermediate created inside a kernel. */
export function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/**
 * A float32 view on a tensor's heap memory. Views go stale when the heap grows, so take them
 * after the last allocation (makeOutput or a composed kernel) and before the loops.
 */
export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  backend.dataIdMap.get(t.dataId);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * Brings every input into the wasm heap before a kernel allocates or takes views: looking up a
 * tensor that still lives on another backend (a model built on `cpu`, trained on `wasm`) moves
 * it, which can grow the heap and detach views taken earlier.
 */
export function touchInputs(backend: BackendWasm, inputs: tf.NamedTensorInfoMap): void {
  for (const t of Object.values(inputs)) if (t) backend.dataIdMap.get(t.dataId);
}

/** A WebAssembly.Memory (the project's TS lib has no DOM/WebAssembly typings). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** The WebAssembly.Memory of the backend, for modules that share its heap. */
export function wasmMemory(backend: BackendWasm): WasmMemory | undefined {
  const mod = backend.wasm as unknown as { asm?: { memory?: WasmMemory } };
  return mod.asm?.memory;
}

/** Byte offset of a tensor's data in the heap. */
export function offsetOf(backend: BackendWasm, t: TensorInfo): number {
  return backend.getMemoryOffset(t.dataId);
}

/**
 * Identity that shares the data (ref-counted, like the `cpu` backend and wasm's own Reshape):
 * the stock wasm Identity copies, and tfjs clones every tensor it saves for backprop.
 */
export function identityWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs['x'] as TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
