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
// The board agent (docs/agent.md): its service, store states, signed requests, board detection and profiles.
export { type AgentOptions, type InstallOptions, type AgentEvents, Agent } from './agent/agent.js';
export {
  type RequestAction,
  type RequestPayload,
  type SignedRequest,
  signRequest,
  verifyRequest,
} from './agent/requests.js';
export { type DeviceInfo, readDeviceInfo } from './agent/device-info.js';
export {
  type Profile,
  PROFILES,
  PROFILE_NAMES,
  profileByName,
  detectProfile,
  L4T_RELEASES,
  RUNTIME_NEEDS,
} from './agent/profiles.js';
export {
  type HealthRules,
  type AgentMqttConfig,
  type AgentConfig,
  DEFAULT_HEALTH,
  parseAgentConfig,
  loadAgentConfig,
  configPathOf,
} from './agent/config.js';
export {
  UNIT_NAME,
  type UnitOptions,
  unitFile,
  installUnit,
  sdNotify,
  startNotify,
} from './agent/service.js';
export {
  UPDATE_STATES,
  type UpdateState,
  FINAL_STATES,
  type UpdateRecord,
  StateFile,
  type DeployState,
  toDeploy,
} from './agent/state.js';
export { AGENT_ERROR_CODES, type AgentErrorCode, AgentError, reasonOf } from './agent/errors.js';
