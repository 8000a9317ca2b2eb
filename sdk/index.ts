/** edge-dmp SDK (training side): the explicit public API. */
export {
  EdgeDmpError,
  ConfigError,
  DataError,
  ModelError,
  check,
  Rng,
  hashSeed,
  withSeededRandom,
  type ErrorDetail,
} from '@edge-dmp/core';
export { selectBackend, currentBackend, BACKENDS, type BackendName } from './backend.js';
export { defaultPreprocess, type PreprocessSpec, type ResizeMode } from '@edge-dmp/core';
export {
  ChannelDuplicate,
  ChannelMaxPool,
  DropConnect,
  channelDuplicate,
  channelMaxPool,
  CHANNEL_ORDERS,
  type ChannelOrder,
} from './layers.js';
export {
  EFFICIENTNET,
  EFFICIENTNET_SCALING,
  MOBILENETV2,
  MOBILENETV2_SCALING,
  VARIANTS,
  type ArchDef,
  type StageDef,
  type ScalingDef,
  type Variant,
} from './models/archs.js';
export { roundFilters, roundRepeats, planBlocks, type BlockPlan } from './models/builder.js';
export {
  createModel,
  listModels,
  getModelEntry,
  registerModel,
  resolveModelOptions,
  modelBlocks,
  modelOptionsOf,
  type ModelOptions,
  type ResolvedModelOptions,
  type ModelEntry,
} from './models/registry.js';
export {
  countParams,
  countMacs,
  modelBytes,
  summarize,
  type ParamCounts,
  type ModelBytes,
  type ModelSummary,
} from './models/stats.js';
export { saveModel, loadModel, fileSystemHandler } from './models/io.js';
export { compareVariants, PAPER_TABLE1, type VariantComparison, type VariantRow } from './models/table1.js';
export { BatchNorm, Swish, isBatchNorm, BATCH_NORM_CLASSES, type BatchNormArgs } from './norm-layers.js';
export { EdgeDmpAdam } from './train/adam.js';
export { registerFastKernels } from './kernels/index.js';
export * from './data/index.js';
export * from './train/index.js';
