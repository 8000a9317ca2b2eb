/** @edge-dmp/host: host-side tools: the dev MQTT broker, the result subscriber, the fleet dashboard, and deploy (SSH and MQTT OTA, fleets, status, rollback). */
export { type BrokerOptions, type DevBroker, startBroker } from './broker.js';
export {
  type SubscribeOptions,
  type SubscriptionStats,
  type Subscription,
  subscribeResults,
} from './subscribe.js';
export { type DashboardOptions, type Dashboard, startDashboard } from './dashboard/server.js';
export { type AgentAction, agentRunning, ctl, ensureAgent } from './deploy/agent-service.js';
export {
  DEFAULT_PREFIX,
  type BoardTarget,
  type DeployOptions,
  type DeployResult,
  parseCtlLine,
  agentConfigFor,
  deployBoard,
} from './deploy/deploy.js';
export { type DeployErrorCode, DeployError } from './deploy/errors.js';
export { type Verdict, type DeployEvent, type EventSink } from './deploy/events.js';
export {
  type RolloutOptions,
  type BoardOutcome,
  type RolloutResult,
  planWaves,
  rollout,
  summaryTable,
} from './deploy/fleet.js';
export { parseHosts, readHosts, idPattern, expandDeviceIds } from './deploy/hosts.js';
export {
  type OtaOptions,
  type OtaOffer,
  type OtaNeed,
  type DeployRecord,
  otaTopics,
  chunkMessage,
  connectMqtt,
  deployOta,
} from './deploy/mqtt-ota.js';
export {
  PROFILES,
  type Profile,
  DEVICE_FLAGS,
  type BoardFacts,
  REQUIREMENTS,
  detectProfile,
  parseFacts,
  readFacts,
  blockers,
  matchProfile,
} from './deploy/preflight.js';
export { describe, progressText, eventPrinter } from './deploy/progress.js';
export { type RuntimeProvider, runtimeCache, fixedRuntime, describeTarball } from './deploy/runtime-cache.js';
export {
  type RuntimeAction,
  type RuntimeInstallResult,
  wrapperScript,
  currentRuntime,
  planRuntime,
  installRuntime,
} from './deploy/runtime-install.js';
export {
  DEVICE_PACKAGES,
  RUNTIME_CLI,
  type RuntimeArch,
  type RuntimeLibc,
  UNAME_TO_ARCH,
  type RuntimeTarballOptions,
  type RuntimeTarball,
  type RuntimeManifest,
  buildRuntimeTarball,
} from './deploy/runtime-tarball.js';
export { type SshTarget, parseHost, type SshOptions, SshTransport } from './deploy/ssh.js';
export {
  readKnownHosts,
  expectedHostKey,
  recordHostKey,
  defaultKnownHostsPath,
} from './deploy/known-hosts.js';
export {
  type BoardStatus,
  statusSsh,
  statusMqtt,
  rollbackRequest,
  rollbackSsh,
  rollbackMqtt,
} from './deploy/status.js';
export {
  type ExecResult,
  type ExecOptions,
  type Writer,
  type Transport,
  sh,
  lineSplitter,
  LocalTransport,
} from './deploy/transport.js';
export {
  type UploadProgress,
  type UploadResult,
  type UploadOptions,
  sha256File,
  remoteSha256,
  uploadResumable,
} from './deploy/upload.js';
