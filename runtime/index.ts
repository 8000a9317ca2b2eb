/** @edge-dmp/runtime: the TFLite runtime (WebAssembly builds) in plain Node, on top of core. */
export {
  type TensorSpec,
  type TfliteModel,
  type RuntimeOptions,
  TfliteRuntimeError,
  simdSupported,
  loadTfliteModel,
  runtimeHeapBytes,
  runtimeAllocMark,
} from './tflite-runtime.js';
