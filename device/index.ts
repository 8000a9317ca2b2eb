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
