/** edge-dmp converter: tfjs model -> verified .tflite -> signed .edmp bundle. The explicit public API. */
export {
  writeBundle,
  buildBundle,
  signBundle,
  generateKeyPair,
  loadPrivateKey,
  type BundleContents,
  type BuiltBundle,
  type GoldenInput,
  type GoldenPixels,
  type WriteOptions,
} from './bundle.js';
// The read side lives in core (a board verifies without the converter); re-exported for one import.
export {
  readBundle,
  verifyBundle,
  extractBundle,
  loadPublicKey,
  readArchive,
  openArchive,
  BundleError,
  BUNDLE_ERROR_CODES,
  DEFAULT_LIMITS as DEFAULT_BUNDLE_LIMITS,
  SCHEMA_VERSION as BUNDLE_SCHEMA_VERSION,
  type BundleManifest,
  type BundleLimits,
  type GoldenEntry,
  type ReadBundle,
  type VerifyReport,
  type VerifyProblem,
  type FileCheck,
  type SignatureCheck,
  type QuantizationMode,
  type TensorDtype,
} from '@edge-dmp/core';
export {
  convertModel,
  verifyTflite,
  compareTop1,
  calibrate,
  runTflite,
  VerificationError,
  FP32_TOLERANCE,
  DECIDED_MARGIN,
  DEFAULT_CALIBRATION,
  type ConvertOptions,
  type ConvertResult,
  type ReportCard,
  type Samples,
  type CalibrationMethod,
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
  activationParams,
  QUANTIZERS,
  QUANTIZE_MODES,
  type QuantizeMode,
  type QuantizeOptions,
  type IoType,
  type Ranges,
} from './quantize.js';
export {
  runGraph,
  graphWeights,
  channelRanges,
  qatFinetune,
  QAT_DEFAULTS,
  type GraphWeights,
  type QatOptions,
  type QatResult,
} from './qat.js';
export { writeTflite } from './tflite/writer.js';
export { readTflite, type ReadModel } from '@edge-dmp/core';
export { GraphBuilder, type Graph, type GraphOp, type GraphTensor, type Quantization } from '@edge-dmp/core';
export {
  convertRun,
  CALIBRATION_METHODS,
  IO_TYPES,
  type ConvertRunOptions,
  type ConvertRunResult,
} from './convert-run.js';
