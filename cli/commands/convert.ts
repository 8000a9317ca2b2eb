/** `edge-dmp convert`: flags -> one convertRun() call (converter/convert-run.ts) -> the report card. */
import { ConfigError, num, parseFlags, type Command } from '@edge-dmp/core';
import {
  VerificationError,
  convertRun,
  type CalibrationMethod,
  type IoType,
  type QuantizeMode,
} from '@edge-dmp/converter';
import { printCard } from '../report-card.js';

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
    const n = (flag: string) =>
      values[flag as keyof typeof values] === undefined
        ? undefined
        : num(`--${flag}`, values[flag as keyof typeof values] as string);
    try {
      const r = await convertRun(values.run, {
        out: values.out as string,
        quantize: values.quantize as QuantizeMode | undefined,
        calib: values.calib,
        calibSamples: n('calib-samples'),
        evalSamples: n('eval-samples'),
        maxDrop: n('max-drop'),
        force: values.force,
        inputType: values['input-type'] as IoType | undefined,
        outputType: values['output-type'] as IoType | undefined,
        calibration: values.calibration as CalibrationMethod | undefined,
        swishRanges: values['swish-ranges'],
        qatSteps: n('qat-steps'),
        qatSamples: n('qat-samples'),
        qatLr: n('qat-lr'),
        softmax: values.softmax,
        model: values.model,
        sign: values.sign,
        backend: values.backend,
        onLog: (line) => console.error(line),
      });
      if (values.json) {
        console.log(
          JSON.stringify({
            ok: true,
            out: r.out,
            bytes: r.tflite.length,
            bundle: r.bundle,
            report: r.report,
          }),
        );
      } else {
        printCard(r.report);
        const b = r.bundle;
        console.log(`wrote ${r.out}${b ? ` (sha256 ${b.sha256}, ${b.signed ? 'signed' : 'unsigned'})` : ''}`);
      }
      return 0;
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      if (values.json) console.log(JSON.stringify({ ok: false, error: e.message, report: e.report }));
      else printCard(e.report);
      console.error(`edge-dmp convert: ${e.message}; nothing written`);
      return 3;
    }
  },
};

export default command;
