/** Types shared by the classifier, the pipeline and the reporters. */

export interface TopKEntry {
  label: string;
  score: number;
}

export interface ModelIdentity {
  name: string;
  version: string;
  /** SHA-256 (hex) of the model.tflite bytes. */
  sha256: string;
}

/** What `classify(frame)` returns for a frame it could classify. */
export interface ClassificationResult {
  ok: true;
  label: string;
  score: number;
  topK: TopKEntry[];
  timings: { decodeMs: number; preprocessMs: number; inferMs: number };
  model: ModelIdentity;
  frameId: number;
  /** Epoch milliseconds when the frame was received. */
  ts: number;
}

/** What the pipeline emits for a frame that could not be classified (corrupt, oversized...). */
export interface ClassificationFailure {
  ok: false;
  frameId: number;
  ts: number;
  /** Machine-readable reason, e.g. E_FRAME_CORRUPT. */
  code: string;
  reason: string;
}

export type FrameOutcome = ClassificationResult | ClassificationFailure;

/** A sink for pipeline outcomes (MQTT, serial, stdout...). */
export interface Reporter {
  readonly name: string;
  /** Called for every outcome; must not throw for transport failures (buffer or count them). */
  report(outcome: FrameOutcome): void | Promise<void>;
  /** Periodic pipeline statistics. */
  metrics?(stats: PipelineStats): void | Promise<void>;
  close(): Promise<void>;
}

export interface PipelineStats {
  frames: number;
  classified: number;
  dropped: number;
  errors: number;
  fps: number;
  latencyMs: { p50: number; p95: number };
  uptimeS: number;
}
