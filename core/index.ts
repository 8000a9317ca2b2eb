/** @edge-dmp/core: errors, input checks, the preprocessing spec, the seeded RNG, the TFLite schema and reader, the .edmp bundle format with reading and verification, the CLI command shape. Imports nothing else of edge-dmp. */
export { type ErrorDetail, EdgeDmpError, ConfigError, DataError, ModelError, check } from './errors.js';
export { positiveInt, nonNegativeInt, inRange, oneOf, nonEmptyString } from './checks.js';
export { type ResizeMode, type PreprocessSpec, defaultPreprocess } from './preprocess.js';
export { hashSeed, Rng, withSeededRandom } from './random.js';
export {
  TensorType,
  type TensorTypeName,
  TYPE_BYTES,
  BuiltinOp,
  type BuiltinOpName,
  Activation,
  Padding,
  type FieldKind,
  OPTIONS,
  type OptionsName,
  type OptionValues,
  nameOf,
} from './tflite/schema.js';
export {
  type Quantization,
  type GraphTensor,
  type GraphOp,
  type Graph,
  bytesOf,
  floatData,
  intData,
  GraphBuilder,
  consumersOf,
  dropUnused,
} from './tflite/graph.js';
export { MAX_TENSOR_ELEMENTS, type ReadModel, readTflite } from './tflite/reader.js';
export {
  SCHEMA_VERSION,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  MODEL_FILE,
  LABELS_FILE,
  BUNDLE_ERROR_CODES,
  type BundleErrorCode,
  BundleError,
  type BundleLimits,
  DEFAULT_LIMITS,
  type QuantizationMode,
  type TensorDtype,
  type FileEntry,
  type GoldenEntry,
  type BundleManifest,
  type SignatureFile,
  sha256Hex,
  keyIdOf,
  parseManifest,
  parseLabels,
  parseSignature,
  type FileCheck,
  checkFiles,
  unexpectedEntries,
  type SignatureCheck,
  checkSignature,
} from './bundle/format.js';
export { unsafeNameReason, type Archive, openArchive, readArchive } from './bundle/zip.js';
export { type KeySource, readKeyText, loadPublicKey, loadPrivateKey } from './bundle/keys.js';
export {
  type BundleSource,
  readBundleBytes,
  type ReadOptions,
  type ReadBundle,
  readBundle,
  type VerifyProblem,
  type VerifyReport,
  verifyBundle,
  extractBundle,
} from './bundle/read.js';
export {
  type Command,
  type ParsedFlags,
  parseFlags,
  NUMBER_RULES,
  numIn,
  checkOutputPath,
  num,
  type CommandTable,
  runCommandTable,
} from './cli/command.js';
