/** edge-dmp converter: tfjs model -> verified .tflite -> signed .edmp bundle. The explicit public API. */
export {
  writeBundle,
  buildBundle,
  readBundle,
  verifyBundle,
  signBundle,
  extractBundle,
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  readArchive,
  BundleError,
  BUNDLE_ERROR_CODES,
  DEFAULT_LIMITS as DEFAULT_BUNDLE_LIMITS,
  SCHEMA_VERSION as BUNDLE_SCHEMA_VERSION,
  type BundleContents,
  type BuiltBundle,
  type BundleManifest,
  type BundleLimits,
  type GoldenInput,
  type GoldenPixels,
  type GoldenEntry,
  type ReadBundle,
  type VerifyReport,
  type VerifyProblem,
  type FileCheck,
  type SignatureCheck,
  type QuantizationMode,
  type TensorDtype,
} from './bundle.js';
export {
  convertModel,
  verifyTflite,
  calibrate,
  runTflite,
  VerificationError,
  FP32_TOLERANCE,
  type ConvertOptions,
  type ConvertResult,
  type ReportCard,
  type Samples,
} from './convert.js';
export {
  lowerModel,
  LOWERINGS,
  DEFAULT_STRATEGY,
  type LowerOptions,
  type DuplicateStrategy,
  type MaxPoolStrategy,
} from './lower.js';
export {
  quantizeGraph,
  calibrationGraph,
  QUANTIZERS,
  QUANTIZE_MODES,
  type QuantizeMode,
  type QuantizeOptions,
  type IoType,
  type Ranges,
} from './quantize.js';
export { writeTflite } from './tflite/writer.js';
export { readTflite, type ReadModel } from './tflite/reader.js';
export { GraphBuilder, type Graph, type GraphOp, type GraphTensor, type Quantization } from './tflite/graph.js';
