/** Training: the recipe, the loop, checkpoints, evaluation, progress and plots. */
export { train, preciseBatchNorm, type TrainOptions, type TrainResult, type RunSummary } from './trainer.js';
export {
  resolveTrainConfig,
  learningRate,
  DEFAULT_CONFIG,
  NORMALIZE_MODES,
  type TrainConfig,
  type Normalize,
} from './recipe.js';
export { evaluate, type Evaluation, type ClassAccuracy } from './evaluate.js';
export { saveCheckpoint, loadCheckpoint, type LoopState } from './checkpoint.js';
export {
  consoleProgress,
  formatStep,
  formatEpoch,
  type ProgressEvent,
  type ProgressListener,
  type StepEvent,
  type EpochMetrics,
} from './progress.js';
export { curveSvg, confusionSvg, type CurvePoint } from './plots.js';
export { openRun, type OpenedRun, type RunDataConfig } from './run-dir.js';
