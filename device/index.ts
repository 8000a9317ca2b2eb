/** edge-dmp device runtime: TFLite in Node, classify(frame), sources, pipeline, reporters. The explicit public API. */
export type {
  ClassificationResult,
  ClassificationFailure,
  FrameOutcome,
  Reporter,
  PipelineStats,
  TopKEntry,
  ModelIdentity,
} from './types.js';
export {
  loadBundle,
  checkGolden,
  type LoadBundleOptions,
  type LoadedBundle,
  type GoldenSample,
  type GoldenReport,
  type GoldenResult,
} from './bundle.js';
export {
  createClassifier,
  toFailure,
  type Classifier,
  type ClassifierOptions,
  type FrameMeta,
  type OutputActivation,
} from './classifier.js';
export {
  decodeFrame,
  sniffFormat,
  FrameError,
  FRAME_ERROR_CODES,
  DEFAULT_FRAME_LIMITS,
  type Frame,
  type RawFrame,
  type RawFormat,
  type FrameLimits,
  type FrameErrorCode,
} from './frame.js';
export { validatePreprocess, resizePixels, toInputTensor } from './preprocess.js';
export {
  Pipeline,
  jsonLinesReporter,
  type PipelineOptions,
  type PipelineEvents,
  type PipelineStatsDetail,
  type FrameClassifier,
} from './pipeline.js';
export {
  createSource,
  parseSourceUri,
  buildCommand,
  SOURCE_COMMANDS,
  MjpegSplitter,
  SourceError,
  SOURCE_ERROR_CODES,
  type FrameSource,
  type SourceOptions,
  type SourceFrame,
  type SourceEvents,
  type RestartInfo,
  type Flip,
  type SpawnFn,
} from './sources/index.js';
export {
  loadTfliteModel,
  simdSupported,
  runtimeHeapBytes,
  runtimeAllocMark,
  TfliteRuntimeError,
  type TensorSpec,
  type TfliteModel,
  type RuntimeOptions,
} from '@edge-dmp/runtime';
export {
  MqttReporter,
  MQTT_COMMANDS,
  parseCommandArgs,
  type MqttReporterOptions,
  type MqttReporterEvents,
  type DeviceControl,
  type CommandPolicy,
  MAX_COMMAND_BYTES,
} from './mqtt-reporter.js';
export { signCommand, CommandVerifier, type SignCommandOptions } from './command-auth.js';
export { acceptVersion, readFloor, compareVersions, DowngradeError } from './version-floor.js';
export { readTrustedKeys, addTrustedKey } from './trusted-keys.js';
export {
  MqttError,
  toClientOptions,
  type MqttConnectionOptions,
  type MqttTlsOptions,
} from './mqtt-options.js';
export {
  Outbox,
  type OutboxOptions,
  type OutboxEntry,
  type OutboxStats,
  type FsyncPolicy,
} from './outbox.js';
export {
  PAYLOAD_VERSION,
  PUBLISH_POLICIES,
  topicsFor,
  resultPayload,
  metricsPayload,
  parseResultPayload,
  createPublishPolicy,
  readCpuTempC,
  type ResultPayload,
  type MetricsPayload,
  type CommandReply,
  type DeviceStatus,
  type Topics,
  type PublishPolicy,
  type PublishPolicyName,
  type PublishPolicyOptions,
} from './payload.js';
export {
  SerialReporter,
  type SerialReporterOptions,
  type SerialReporterEvents,
  type SerialFormat,
  type SerialStats,
} from './serial-reporter.js';
export { toMqttError } from './mqtt-options.js';
export { DEVICE_COMMANDS, deviceMain } from './cli/main.js';
export {
  MQTT_CONNECTION_FLAGS,
  connectionFromFlags,
  normalizeOptionalFlags,
  parseSerialSpec,
} from './cli/mqtt-flags.js';
