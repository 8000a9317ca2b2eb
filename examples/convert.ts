/**
 * Stage: convert. A training run (`edge-dmp train --out runs/x`) -> `.tflite` calibrated and
 * verified in the TFLite runtime -> signed `.edmp` with the report card and golden samples, in one
 * `convertRun` call: the same call `edge-dmp convert` makes.
 *
 *   node --conditions=edge-dmp-source --import tsx examples/convert.ts runs/example model.edmp keys/edmp.key [fp32|fp16|dynamic|int8]
 */
import { convertRun, VerificationError, type QuantizeMode } from '../converter/index.js';

const [run, out, key, mode = 'int8'] = process.argv.slice(2);
if (!run || !out || !key) {
  console.error(
    'usage: node --conditions=edge-dmp-source --import tsx examples/convert.ts runs/x model.edmp edmp.key [mode]',
  );
  process.exit(2);
}
try {
  const r = await convertRun(run, { out, sign: key, quantize: mode as QuantizeMode, onLog: console.error });
  const { report } = r;
  console.log(
    `${mode}: ${r.tflite.length} bytes, top-1 agreement ${report.top1Agreement} (decided ${report.decidedAgreement}), accuracy ${JSON.stringify(report.accuracy)}`,
  );
  console.log(`${out}: sha256 ${r.bundle?.sha256}, ${r.bundle?.signed ? 'signed' : 'unsigned'}`);
} catch (e) {
  // A conversion that fails verification writes nothing; the report card says why.
  if (e instanceof VerificationError) console.error(e.message, JSON.stringify(e.report));
  else throw e;
  process.exitCode = 3;
}
