/**
 * `convertRun`: a training run directory (`edge-dmp train --out runs/x`) -> a verified `.tflite`
 * and, for an `.edmp` target, a bundle with the report card, golden samples and provenance.
 * `edge-dmp convert` and examples/convert.ts are this one call.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  checkOutputPath,
  inRange,
  nonNegativeInt,
  oneOf,
  positiveInt,
  type PreprocessSpec,
} from '@edge-dmp/core';
import { loadTfliteModel, type TfliteModel } from '@edge-dmp/runtime';
import {
  countMacs,
  countParams,
  loadData,
  modelOptionsOf,
  openRun,
  registerFastKernels,
  sampleInputs,
  selectBackend,
  type ImageDataset,
} from '@edge-dmp/sdk';
import {
  DEFAULT_CALIBRATION,
  convertModel,
  runTflite,
  type CalibrationMethod,
  type ReportCard,
} from './convert.js';
import { QUANTIZE_MODES, type IoType, type QuantizeMode } from './quantize.js';
import { QAT_DEFAULTS } from './qat.js';
import { writeBundle, type GoldenInput, type KeySource } from './bundle.js';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'mse', 'average'];
export const IO_TYPES: readonly IoType[] = ['float32', 'int8', 'uint8'];
const GOLDEN = 4;

export interface ConvertRunOptions {
  /** Where to write: `.edmp` (bundle) or `.tflite` (bare model). */
  out: string;
  quantize?: QuantizeMode;
  /** Calibration data spec (default: the run's own data). */
  calib?: string;
  calibSamples?: number;
  evalSamples?: number;
  maxDrop?: number;
  force?: boolean;
  inputType?: IoType;
  outputType?: IoType;
  calibration?: CalibrationMethod;
  swishRanges?: boolean;
  /** Quantization-aware fine-tuning steps before int8 is written (0 = off). */
  qatSteps?: number;
  qatSamples?: number;
  qatLr?: number;
  softmax?: boolean;
  /** Which saved model of the run: `best` (default when present) or `last`. */
  model?: string;
  /** Ed25519 private key for the bundle. */
  sign?: KeySource;
  /** tfjs backend for the float side of the verification (default: the best available). */
  backend?: string;
  onLog?: (line: string) => void;
}

export interface ConvertRunResult {
  out: string;
  tflite: Uint8Array;
  report: ReportCard;
  backend: string;
  /** Present for an `.edmp` target. */
  bundle?: { sha256: string; signed: boolean };
}

/** Checks the options up front (typed errors naming the CLI flag), before any data is read. */
function checkOptions(o: ConvertRunOptions) {
  if (typeof o.out !== 'string' || !/\.(edmp|tflite)$/.test(o.out))
    throw new ConfigError({ field: '--out', expected: 'a path ending in .edmp or .tflite', received: o.out });
  const quantize = oneOf('--quantize', o.quantize ?? 'fp32', QUANTIZE_MODES);
  if (o.sign && o.out.endsWith('.tflite'))
    throw new ConfigError({
      field: '--sign',
      expected: 'an .edmp --out (a bare .tflite has no signature)',
      received: o.out,
    });
  const qatSteps = nonNegativeInt('--qat-steps', o.qatSteps ?? 0);
  if (qatSteps > 0 && quantize !== 'int8')
    throw new ConfigError({
      field: '--qat-steps',
      expected: 'only with --quantize int8',
      received: quantize,
    });
  return {
    quantize,
    qatSteps,
    calibration: oneOf('--calibration', o.calibration ?? DEFAULT_CALIBRATION, CALIBRATION_METHODS),
    calibN: positiveInt('--calib-samples', o.calibSamples ?? 300),
    evalN: positiveInt('--eval-samples', o.evalSamples ?? 500),
    qatN: positiveInt('--qat-samples', o.qatSamples ?? 1000),
    qatLr: inRange('--qat-lr', o.qatLr ?? QAT_DEFAULTS.lr, { min: 0, exclusiveMin: true }),
    maxDrop: inRange('--max-drop', o.maxDrop ?? 1.0, { min: 0 }),
    inputType: o.inputType === undefined ? undefined : oneOf('--input-type', o.inputType, IO_TYPES),
    outputType: o.outputType === undefined ? undefined : oneOf('--output-type', o.outputType, IO_TYPES),
  };
}

/**
 * Converts a training run; throws VerificationError (report attached) when the converted model
 * fails verification and `force` is not set, in which case nothing is written.
 * @example
 * const r = await convertRun('runs/x', { quantize: 'int8', out: 'model.edmp', sign: 'keys/edmp.key' });
 * console.log(r.report.top1Agreement, r.bundle?.sha256);
 */
export async function convertRun(runDir: string, o: ConvertRunOptions): Promise<ConvertRunResult> {
  const c = checkOptions(o);
  // An unwritable --out is named now, not after minutes of conversion.
  checkOutputPath('--out', o.out, 'file');
  const opened = await openRun(runDir, o.model);
  const { dir: run, preprocess, labels, config } = opened;
  const backend = await selectBackend(o.backend);
  o.onLog?.(`backend: ${backend}`);
  const model = await opened.loadModel();
  // QAT trains through conv / depthwise gradients: the wasm backend needs the project's kernels.
  if (c.qatSteps > 0) registerFastKernels();
  const dataOpts = {
    seed: config.seed,
    valFraction: config.valFraction,
    cifar100Labels: config.cifar100Labels,
    onWarning: (e: Error) => o.onLog?.(`warning: ${e.message}`),
  };
  // Evaluation on the run's own validation split; calibration on --calib's training split (default the run's data).
  const runData = await loadData(config.data, dataOpts);
  const calibData = o.calib ? await loadData(o.calib, dataOpts, '--calib') : runData;
  const shape = model.inputs[0].shape.slice(1).map(Number);
  const ev = await sampleInputs(runData.val, preprocess, c.evalN, 1);
  const cb = await sampleInputs(calibData.train, preprocess, c.calibN, 2);
  const evalX = tf.tensor(ev.x, [ev.size, ...shape]);
  const calibX = tf.tensor(cb.x, [cb.size, ...shape]);
  // QAT distils on its own draw from the calibration data's training split (no labels used).
  const qs = c.qatSteps > 0 ? await sampleInputs(calibData.train, preprocess, c.qatN, 3) : undefined;
  const qatX = qs ? tf.tensor(qs.x, [qs.size, ...shape]) : undefined;
  let result;
  try {
    result = await convertModel(model, {
      quantize: c.quantize,
      calib: { x: calibX },
      calibSamples: c.calibN,
      eval: { x: evalX, labels: ev.y },
      labels,
      maxDrop: c.maxDrop,
      force: o.force,
      inputType: c.inputType,
      outputType: c.outputType,
      calibration: c.calibration,
      swishRanges: o.swishRanges,
      qat: qatX ? { steps: c.qatSteps, lr: c.qatLr, samples: { x: qatX } } : undefined,
      softmax: o.softmax,
    });
  } finally {
    tf.dispose([evalX, calibX, ...(qatX ? [qatX] : [])]);
  }
  const { tflite, report } = result;
  await mkdir(dirname(resolve(o.out)), { recursive: true });
  if (o.out.endsWith('.tflite')) {
    await writeFile(o.out, tflite);
    return { out: o.out, tflite, report, backend };
  }
  const zoo = modelOptionsOf(model);
  // One runtime instance for the I/O specs and the golden samples.
  const rt = await loadTfliteModel(tflite);
  try {
    const [inSpec] = rt.inputs;
    const [outSpec] = rt.outputs;
    const data = o.calib ?? config.data;
    const built = await writeBundle(
      o.out,
      {
        tflite,
        labels,
        model: { name: model.name, variant: zoo?.variant ?? 'custom', architecture: zoo?.model ?? 'custom' },
        preprocess,
        inputShape: inSpec.shape,
        inputDtype: inSpec.dtype as IoType,
        inputQuantization: inSpec.quantization,
        outputDtype: outSpec.dtype as IoType,
        outputQuantization: outSpec.quantization,
        quantization: {
          mode: c.quantize,
          calibration:
            c.quantize === 'int8'
              ? { data, samples: cb.size, method: c.calibration, swishRanges: o.swishRanges ?? false }
              : undefined,
          qat: report.qat
            ? { data, samples: report.qat.samples, steps: report.qat.steps, lr: report.qat.lr }
            : undefined,
        },
        params: countParams(model).trainable,
        macs: countMacs(model),
        reportCard: report as unknown as Record<string, unknown>,
        provenance: { trainingRun: resolve(run), dataset: config.data, createdAt: new Date().toISOString() },
        golden: await goldenSamples(runData.val, preprocess, rt, labels),
      },
      { signKey: o.sign },
    );
    return { out: o.out, tflite, report, backend, bundle: { sha256: built.sha256, signed: built.signed } };
  } finally {
    rt.dispose();
  }
}

/** Golden samples: raw pixels of a few validation images plus the top-1 the .tflite gives for them. */
async function goldenSamples(
  ds: ImageDataset,
  pp: PreprocessSpec,
  rt: TfliteModel,
  labels: string[],
): Promise<GoldenInput[]> {
  const [h, w] = pp.inputSize;
  const idx = Array.from({ length: Math.min(GOLDEN, ds.length) }, (_, i) =>
    Math.floor((i * ds.length) / GOLDEN),
  );
  const imgs = await ds.read(idx, { size: [h, w], channels: pp.channels });
  const out: GoldenInput[] = [];
  for (const img of imgs) {
    if (!img || img.width !== w || img.height !== h || img.channels !== pp.channels) continue;
    const x = Float32Array.from(
      img.data,
      (v, i) => (v * pp.scale - pp.mean[i % pp.channels]) / pp.std[i % pp.channels],
    );
    const [logits] = runTflite(rt, tf.tensor(x, [1, ...rt.inputs[0].shape.slice(1)]));
    let best = 0;
    for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
    out.push({
      pixels: { data: img.data, width: w, height: h, channels: pp.channels },
      label: labels[best],
      index: best,
    });
  }
  return out;
}
