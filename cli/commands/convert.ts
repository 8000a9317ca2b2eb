import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../sdk/errors.js';
import { openRun } from '../../sdk/train/run-dir.js';
import { selectBackend } from '../../sdk/backend.js';
import { modelOptionsOf } from '../../sdk/models/registry.js';
import { countMacs, countParams } from '../../sdk/models/stats.js';
import { loadData } from '../../sdk/data/index.js';
import { sampleInputs } from '../../sdk/data/pipeline.js';
import type { ImageDataset } from '../../sdk/data/types.js';
import type { PreprocessSpec } from '../../sdk/preprocess.js';
import {
  convertModel,
  runTflite,
  VerificationError,
  DEFAULT_CALIBRATION,
  type CalibrationMethod,
  type ReportCard,
} from '../../converter/convert.js';
import { QUANTIZE_MODES, type IoType, type QuantizeMode } from '../../converter/quantize.js';
import { QAT_DEFAULTS } from '../../converter/qat.js';
import { writeBundle, type GoldenInput } from '../../converter/bundle.js';
import { loadTfliteModel } from '../../device/tflite-runtime.js';
import { registerFastKernels } from '../../sdk/kernels/index.js';
import { checkOutputPath, num, parseFlags, type Command } from '../command.js';

const GOLDEN = 4;

function ioType(flag: string, v: string | undefined): IoType | undefined {
  if (v === undefined) return undefined;
  if (!['float32', 'int8', 'uint8'].includes(v))
    throw new ConfigError({ field: flag, expected: 'float32 | int8 | uint8', received: v });
  return v as IoType;
}

function printCard(r: ReportCard): void {
  const pct = (v: number) => `${v.toFixed(2)}%`;
  console.log(`report card (${r.quantize}, in ${r.inputType}, out ${r.outputType})`);
  console.log(`  size            ${r.sizeBytes} bytes`);
  console.log(`  samples         ${r.samples}`);
  console.log(
    `  max |dlogit|    ${r.maxAbsDiff.toExponential(3)} (${r.relDiff.toExponential(3)} of range ${r.logitRange.toFixed(3)})`,
  );
  console.log(`  top-1 agreement ${pct(100 * r.top1Agreement)}`);
  console.log(
    `  decided         ${pct(100 * r.decidedAgreement)} (float top-1 >= ${r.decidedMargin} logit above top-2)`,
  );
  if (r.flips.count)
    console.log(
      `  flips           ${r.flips.count}, float margin median ${r.flips.medianFloatMargin.toFixed(3)}, max ${r.flips.maxFloatMargin.toFixed(3)}`,
    );
  if (r.accuracy) {
    console.log(
      `  accuracy        float ${pct(r.accuracy.float)}  converted ${pct(r.accuracy.converted)}  drop ${r.accuracy.drop.toFixed(2)} points (max ${r.maxDrop})`,
    );
    for (const c of r.perClass ?? [])
      console.log(
        `    ${c.label.padEnd(16)} n=${String(c.n).padStart(4)}  ${pct(c.float).padStart(8)} -> ${pct(c.converted)}`,
      );
  }
  if (r.qat)
    console.log(
      `  qat             ${r.qat.steps} steps on ${r.qat.samples} samples, lr ${r.qat.lr}: distillation loss ${r.qat.lossBefore.toFixed(4)} -> ${r.qat.lossAfter.toFixed(4)}`,
    );
  console.log(`  verdict         ${r.passed ? 'passed' : 'FAILED'}`);
}

/** Golden samples: raw pixels of a few validation images plus the top-1 the .tflite gives for them. */
async function goldenSamples(
  ds: ImageDataset,
  pp: PreprocessSpec,
  tflite: Uint8Array,
  labels: string[],
): Promise<GoldenInput[]> {
  const [h, w] = pp.inputSize;
  const idx = Array.from({ length: Math.min(GOLDEN, ds.length) }, (_, i) =>
    Math.floor((i * ds.length) / GOLDEN),
  );
  const imgs = await ds.read(idx, { size: [h, w], channels: pp.channels });
  const rt = await loadTfliteModel(tflite);
  try {
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
  } finally {
    rt.dispose();
  }
}

const command: Command = {
  summary:
    'Convert a trained run to a verified .tflite (fp32, fp16, dynamic, int8) in a signed .edmp bundle or a bare .tflite.',
  usage:
    'edge-dmp convert --run runs/x --quantize fp32|fp16|dynamic|int8 [--calib <data spec>] [--calib-samples 300] ' +
    '[--eval-samples 500] [--max-drop 1.0] [--force] [--input-type float32|int8|uint8] [--output-type float32|int8|uint8] ' +
    '[--calibration minmax|percentile|mse|average] [--swish-ranges] [--qat-steps 0] [--qat-samples 1000] [--qat-lr 3e-5] [--softmax] [--model best|last] [--backend auto|wasm|cpu|tensorflow] --out model.edmp|model.tflite [--sign key] [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      run: { type: 'string' },
      quantize: { type: 'string' },
      calib: { type: 'string' },
      'calib-samples': { type: 'string' },
      'eval-samples': { type: 'string' },
      'max-drop': { type: 'string' },
      force: { type: 'boolean' },
      'input-type': { type: 'string' },
      'output-type': { type: 'string' },
      calibration: { type: 'string' },
      'swish-ranges': { type: 'boolean' },
      'qat-steps': { type: 'string' },
      'qat-samples': { type: 'string' },
      'qat-lr': { type: 'string' },
      softmax: { type: 'boolean' },
      model: { type: 'string' },
      out: { type: 'string' },
      sign: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!values.run)
      throw new ConfigError({
        field: '--run',
        expected: 'a run directory written by edge-dmp train',
        received: values.run,
      });
    const out = values.out;
    if (!out || !/\.(edmp|tflite)$/.test(out))
      throw new ConfigError({ field: '--out', expected: 'a path ending in .edmp or .tflite', received: out });
    checkOutputPath('--out', out, 'file');
    const quantize = (values.quantize ?? 'fp32') as QuantizeMode;
    if (!QUANTIZE_MODES.includes(quantize))
      throw new ConfigError({
        field: '--quantize',
        expected: QUANTIZE_MODES.join(' | '),
        received: quantize,
      });
    if (values.sign && out.endsWith('.tflite'))
      throw new ConfigError({
        field: '--sign',
        expected: 'an .edmp --out (a bare .tflite has no signature)',
        received: out,
      });
    const calibration = values.calibration ?? DEFAULT_CALIBRATION;
    if (!['minmax', 'percentile', 'mse', 'average'].includes(calibration))
      throw new ConfigError({
        field: '--calibration',
        expected: 'minmax | percentile | mse | average',
        received: calibration,
      });
    const opened = await openRun(values.run, values.model);
    const { dir: run, preprocess, labels, config } = opened;

    // The tfjs side of the verification runs on the best available backend (or --backend).
    console.error(`backend: ${await selectBackend(values.backend)}`);
    const model = await opened.loadModel();
    const calibN = num('--calib-samples', values['calib-samples'], 300);
    const evalN = num('--eval-samples', values['eval-samples'], 500);
    const maxDrop = num('--max-drop', values['max-drop'], 1.0);
    const qatSteps = num('--qat-steps', values['qat-steps'], 0);
    const qatN = num('--qat-samples', values['qat-samples'], 1000);
    const qatLr = num('--qat-lr', values['qat-lr'], QAT_DEFAULTS.lr);
    if (!Number.isInteger(qatSteps) || qatSteps < 0)
      throw new ConfigError({
        field: '--qat-steps',
        expected: 'an integer >= 0',
        received: values['qat-steps'],
      });
    if (qatSteps > 0 && quantize !== 'int8')
      throw new ConfigError({
        field: '--qat-steps',
        expected: 'only with --quantize int8',
        received: quantize,
      });
    // QAT trains through conv / depthwise gradients: the wasm backend needs the project's kernels.
    if (qatSteps > 0) registerFastKernels();
    const opts = {
      seed: config.seed,
      valFraction: config.valFraction,
      cifar100Labels: config.cifar100Labels,
      onWarning: (e: Error) => console.error(`warning: ${e.message}`),
    };

    // Evaluation on the run's own validation split; calibration on --calib's training split (default the run's data).
    const runData = await loadData(config.data, opts);
    const calibData = values.calib ? await loadData(values.calib, opts, '--calib') : runData;
    const shape = model.inputs[0].shape.slice(1).map(Number);
    const ev = await sampleInputs(runData.val, preprocess, evalN, 1);
    const cb = await sampleInputs(calibData.train, preprocess, calibN, 2);
    const evalX = tf.tensor(ev.x, [ev.size, ...shape]);
    const calibX = tf.tensor(cb.x, [cb.size, ...shape]);
    // QAT distils on its own draw from the calibration data's training split (no labels used).
    const qs = qatSteps > 0 ? await sampleInputs(calibData.train, preprocess, qatN, 3) : undefined;
    const qatX = qs ? tf.tensor(qs.x, [qs.size, ...shape]) : undefined;
    let result;
    try {
      result = await convertModel(model, {
        quantize,
        calib: { x: calibX },
        calibSamples: calibN,
        eval: { x: evalX, labels: ev.y },
        labels,
        maxDrop,
        force: values.force,
        inputType: ioType('--input-type', values['input-type']),
        outputType: ioType('--output-type', values['output-type']),
        calibration: calibration as CalibrationMethod,
        swishRanges: values['swish-ranges'],
        qat: qatX ? { steps: qatSteps, lr: qatLr, samples: { x: qatX } } : undefined,
        softmax: values.softmax,
      });
    } catch (e) {
      if (e instanceof VerificationError) {
        if (values.json) console.log(JSON.stringify({ ok: false, error: e.message, report: e.report }));
        else printCard(e.report);
        console.error(`edge-dmp convert: ${e.message}; nothing written`);
        return 3;
      }
      throw e;
    } finally {
      evalX.dispose();
      calibX.dispose();
      qatX?.dispose();
    }
    const { tflite, report } = result;
    await mkdir(dirname(resolve(out)), { recursive: true });
    let bundle: { sha256: string; signed: boolean } | undefined;
    if (out.endsWith('.tflite')) {
      await writeFile(out, tflite);
    } else {
      const zoo = modelOptionsOf(model);
      const rt = await loadTfliteModel(tflite);
      const [inSpec] = rt.inputs;
      const [outSpec] = rt.outputs;
      rt.dispose();
      const built = await writeBundle(
        out,
        {
          tflite,
          labels,
          model: {
            name: model.name,
            variant: zoo?.variant ?? 'custom',
            architecture: zoo?.model ?? 'custom',
          },
          preprocess,
          inputShape: inSpec.shape,
          inputDtype: inSpec.dtype as IoType,
          inputQuantization: inSpec.quantization,
          outputDtype: outSpec.dtype as IoType,
          outputQuantization: outSpec.quantization,
          quantization: {
            mode: quantize,
            calibration:
              quantize === 'int8'
                ? {
                    data: values.calib ?? config.data,
                    samples: cb.size,
                    method: calibration,
                    swishRanges: values['swish-ranges'] ?? false,
                  }
                : undefined,
            qat: report.qat
              ? {
                  data: values.calib ?? config.data,
                  samples: report.qat.samples,
                  steps: report.qat.steps,
                  lr: report.qat.lr,
                }
              : undefined,
          },
          params: countParams(model).trainable,
          macs: countMacs(model),
          reportCard: report as unknown as Record<string, unknown>,
          provenance: {
            trainingRun: resolve(run),
            dataset: config.data,
            createdAt: new Date().toISOString(),
          },
          golden: await goldenSamples(runData.val, preprocess, tflite, labels),
        },
        { signKey: values.sign },
      );
      bundle = { sha256: built.sha256, signed: built.signed };
    }
    if (values.json) console.log(JSON.stringify({ ok: true, out, bytes: tflite.length, bundle, report }));
    else {
      printCard(report);
      console.log(
        `wrote ${out}${bundle ? ` (sha256 ${bundle.sha256}, ${bundle.signed ? 'signed' : 'unsigned'})` : ''}`,
      );
    }
    return 0;
  },
};

export default command;
