/**
 * tfjs LayersModel -> verified `.tflite`: lower (lower.ts), calibrate (calibrate.ts), quantize
 * (quantize.ts), write, then verify in the device's TFLite runtime (verify.ts) with a report card.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '@edge-dmp/core';
import { lowerModel, type LowerOptions } from './lower.js';
import { quantizeGraph, QUANTIZE_MODES, type IoType, type QuantizeMode } from './quantize.js';
import { QAT_DEFAULTS, qatFinetune } from './qat.js';
import { writeTflite } from './tflite/writer.js';
import { calibrate, type CalibrationMethod } from './calibrate.js';
import { FP32_TOLERANCE, VerificationError, verifyTflite, type ReportCard, type Samples } from './verify.js';

// One import for callers of the converter's three steps.
export * from './verify.js';
export * from './calibrate.js';

export interface ConvertOptions extends LowerOptions {
  quantize?: QuantizeMode;
  /** Representative samples for int8 calibration (preprocessed like training inputs). */
  calib?: Samples;
  /** How many calibration samples to use; default 300. */
  calibSamples?: number;
  /** Evaluation samples for verification; default: the calibration samples. */
  eval?: Samples;
  /** Class names for the per-class report. */
  labels?: string[];
  /**
   * int8 only: quantization-aware fine-tuning by distillation before the file is written
   * (`qatFinetune`): `steps` Adam steps of `batchSize` samples at `lr` on `samples` (default the
   * calibration samples; no labels needed). Verification still compares with the original model.
   */
  qat?: { steps: number; lr?: number; batchSize?: number; samples?: Samples };
  /** Allowed top-1 accuracy drop in points; default 1.0. */
  maxDrop?: number;
  /** Keep the model even when verification fails. */
  force?: boolean;
  inputType?: IoType;
  outputType?: IoType;
  /** Runtime threads for verification. */
  threads?: number;
  /** int8 activation ranges: `percentile` (default), `minmax`, `mse` or `average` (see calibrate). */
  calibration?: CalibrationMethod;
  /** Percentile for `calibration: 'percentile'`; default 99.99. */
  percentile?: number;
  /**
   * `percentile` / `mse`: pick the range of a tensor that only feeds an exact swish (LOGISTIC + MUL)
   * by the error after the swish rather than of the tensor itself. Default false: it lowers that
   * error, yet did not raise top-1 agreement on the four trained models measured (docs/converter.md).
   */
  swishRanges?: boolean;
}

export interface ConvertResult {
  tflite: Uint8Array;
  report: ReportCard;
}

/**
 * Converts a tfjs LayersModel to `.tflite`, quantizes it and verifies it in the TFLite runtime.
 * Throws VerificationError when fp32 exceeds the tolerance or int8 loses more than `maxDrop`
 * accuracy points (unless `force`).
 * @example
 * const { tflite, report } = await convertModel(model, { quantize: 'int8', calib: { x }, eval: { x, labels } });
 */
export async function convertModel(model: tf.LayersModel, o: ConvertOptions = {}): Promise<ConvertResult> {
  const mode = o.quantize ?? 'fp32';
  if (!QUANTIZE_MODES.includes(mode))
    throw new ConfigError({ field: 'quantize', expected: QUANTIZE_MODES.join(' | '), received: mode });
  const maxDrop = o.maxDrop ?? 1.0;
  if (!(maxDrop >= 0))
    throw new ConfigError({ field: 'maxDrop', expected: 'a number >= 0', received: o.maxDrop });
  const calibN = o.calibSamples ?? 300;
  if (!Number.isInteger(calibN) || calibN < 1)
    throw new ConfigError({ field: 'calibSamples', expected: 'an integer >= 1', received: o.calibSamples });
  if (
    (o.inputType || o.outputType) &&
    mode !== 'int8' &&
    (o.inputType ?? 'float32') + (o.outputType ?? 'float32') !== 'float32float32'
  ) {
    throw new ConfigError({
      field: 'inputType/outputType',
      expected: 'float32 unless quantize is int8',
      received: `${o.inputType}/${o.outputType}`,
    });
  }
  if (o.qat && mode !== 'int8')
    throw new ConfigError({ field: 'qat', expected: 'quantize int8', received: mode });
  const graph = lowerModel(model, o);
  let quantized: typeof graph;
  let qatReport: ReportCard['qat'];
  if (mode === 'int8') {
    if (!o.calib)
      throw new ConfigError({
        field: 'calib',
        expected: 'representative samples for int8 calibration',
        received: undefined,
      });
    const n = Math.min(calibN, o.calib.x.shape[0]);
    const cx = o.calib.x.slice(0, n);
    try {
      const ranges = await calibrate(graph, cx, {
        threads: o.threads,
        method: o.calibration,
        percentile: o.percentile,
        swishRanges: o.swishRanges,
      });
      let tunedGraph = graph;
      if (o.qat) {
        const qx = o.qat.samples?.x ?? o.calib.x;
        const lr = o.qat.lr ?? QAT_DEFAULTS.lr;
        const r = await qatFinetune(graph, ranges, qx, {
          steps: o.qat.steps,
          lr,
          batchSize: o.qat.batchSize,
        });
        tunedGraph = r.graph;
        qatReport = {
          steps: o.qat.steps,
          samples: qx.shape[0],
          lr,
          lossBefore: r.lossBefore,
          lossAfter: r.lossAfter,
        };
      }
      quantized = quantizeGraph(tunedGraph, 'int8', {
        ranges,
        inputType: o.inputType,
        outputType: o.outputType,
      });
    } finally {
      cx.dispose();
    }
  } else {
    quantized = quantizeGraph(graph, mode);
  }
  const tflite = writeTflite(quantized);
  const evalSet = o.eval ?? o.calib;
  let report: ReportCard;
  if (evalSet) {
    report = await verifyTflite(model, tflite, evalSet, {
      quantize: mode,
      labels: o.labels,
      maxDrop,
      threads: o.threads,
    });
  } else {
    // No samples given: verify on random inputs (agreement only, no accuracy).
    const shape = model.inputs[0].shape.map((d, i) => (i === 0 ? 8 : Number(d)));
    const x = tf.randomUniform(shape, 0, 1, 'float32', 1);
    try {
      report = await verifyTflite(model, tflite, { x }, { quantize: mode, maxDrop, threads: o.threads });
    } finally {
      x.dispose();
    }
  }
  if (qatReport) report.qat = qatReport;
  if (!report.passed && !o.force) {
    throw new VerificationError(
      mode === 'fp32'
        ? {
            field: 'fp32 logits',
            expected: `max abs diff <= ${FP32_TOLERANCE} x logit range`,
            received: report.relDiff,
          }
        : {
            field: '--max-drop',
            expected: `an accuracy drop <= ${maxDrop} points (or --force)`,
            received: report.accuracy?.drop,
          },
      report,
    );
  }
  return { tflite, report };
}
