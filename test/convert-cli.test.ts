/**
 * `edge-dmp convert` end to end on a run directory holding the trained DMP fixture: int8 with
 * Fashion-MNIST calibration into a signed `.edmp` that `verifyBundle` accepts and whose model runs
 * in the TFLite runtime; `--out x.tflite` writes the bare model; a failed max-drop gate exits 3 and
 * writes nothing; `--qat-steps` fine-tunes and is recorded; bad flags exit 2 naming the flag.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../cli/main.js';
import { generateKeyPair, readBundle, verifyBundle } from '../converter/bundle.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { FASHION_MNIST_CLASSES } from '../sdk/data/index.js';
import { defaultPreprocess } from '../core/preprocess.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-convert-cli-'));
const run = join(dir, 'run');
let keys: Awaited<ReturnType<typeof generateKeyPair>>;

before(async () => {
  mkdirSync(run, { recursive: true });
  cpSync('test/fixtures/int8/dmp', join(run, 'best'), { recursive: true });
  writeFileSync(join(run, 'config.json'), JSON.stringify({ data: 'fashion-mnist', seed: 0 }));
  writeFileSync(join(run, 'labels.txt'), FASHION_MNIST_CLASSES.join('\n') + '\n');
  writeFileSync(join(run, 'preprocess.json'), JSON.stringify(defaultPreprocess([28, 28], 1)));
  keys = await generateKeyPair(join(dir, 'keys'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in-process, capturing stdout and stderr lines. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** `convert --run <run> --quantize int8` on 100 calibration / 100 evaluation images, max drop 5, plus `extra`. */
const int8Args = (out: string, ...extra: string[]) => [
  'convert',
  '--run',
  run,
  '--quantize',
  'int8',
  '--calib-samples',
  '100',
  '--eval-samples',
  '100',
  '--max-drop',
  '5',
  ...extra,
  '--out',
  out,
];

describe('edge-dmp convert', () => {
  it('int8 into a signed bundle that verifies and runs', async () => {
    const out = join(dir, 'dmp-int8.edmp');
    const r = await cli([
      'convert',
      '--run',
      run,
      '--quantize',
      'int8',
      '--calib',
      'fashion-mnist',
      '--calib-samples',
      '200',
      '--eval-samples',
      '200',
      '--max-drop',
      '1.0',
      '--out',
      out,
      '--sign',
      keys.privateKeyPath,
      '--json',
    ]);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out) as {
      ok: boolean;
      report: { top1Agreement: number; quantize: string; samples: number };
    };
    assert.equal(res.ok, true);
    assert.equal(res.report.quantize, 'int8');
    assert.equal(res.report.samples, 200);
    assert.ok(res.report.top1Agreement >= 0.97, `agreement ${res.report.top1Agreement}`);
    const v = await verifyBundle(out, keys.publicKeyPath);
    assert.equal(v.ok, true, JSON.stringify(v.problems));
    const b = await readBundle(out);
    assert.deepEqual(b.labels, FASHION_MNIST_CLASSES);
    const m = await loadTfliteModel(b.tflite);
    assert.deepEqual(m.inputs[0].shape, [1, 28, 28, 1]);
    assert.deepEqual(m.outputs[0].shape, [1, 10]);
    m.dispose();
  });

  it('--swish-ranges is used and recorded in the manifest', async () => {
    const out = join(dir, 'dmp-int8-swish.edmp');
    const r = await cli(int8Args(out, '--swish-ranges'));
    assert.equal(r.code, 0, r.err);
    const b = await readBundle(out);
    const q = b.manifest.quantization as { mode: string; calibration?: Record<string, unknown> };
    assert.equal(q.mode, 'int8');
    assert.equal(q.calibration?.method, 'percentile');
    assert.equal(q.calibration?.swishRanges, true);
    assert.equal(q.calibration?.samples, 100);
  });

  it('--qat-steps fine-tunes before writing; the card and the manifest say so', async () => {
    const out = join(dir, 'dmp-int8-qat.edmp');
    const r = await cli(
      int8Args(out, '--qat-steps', '12', '--qat-samples', '96', '--qat-lr', '1e-4', '--json'),
    );
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out) as { report: { qat?: Record<string, number> } };
    assert.equal(res.report.qat?.steps, 12);
    assert.equal(res.report.qat?.samples, 96);
    assert.equal(res.report.qat?.lr, 1e-4);
    assert.ok(Number.isFinite(res.report.qat?.lossBefore) && Number.isFinite(res.report.qat?.lossAfter));
    const b = await readBundle(out);
    const q = b.manifest.quantization as { mode: string; qat?: Record<string, unknown> };
    assert.deepEqual(q.qat, { data: 'fashion-mnist', samples: 96, steps: 12, lr: 1e-4 });
    const card = b.manifest.reportCard as { qat?: { steps: number } };
    assert.equal(card.qat?.steps, 12);
  });

  it('--out x.tflite writes the bare fp32 model', async () => {
    const out = join(dir, 'dmp.tflite');
    const r = await cli([
      'convert',
      '--run',
      run,
      '--quantize',
      'fp32',
      '--eval-samples',
      '50',
      '--calib-samples',
      '10',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /top-1 agreement 100\.00%/);
    assert.match(r.out, /verdict\s+passed/);
    const bytes = readFileSync(out);
    assert.equal(bytes.subarray(4, 8).toString(), 'TFL3');
  });

  it('exits 3 and writes nothing when int8 loses more than --max-drop', async () => {
    const out = join(dir, 'bad.tflite');
    // On the first 300 validation images the DMP fixture loses 0.33 points in int8: over --max-drop 0.
    const r = await cli([
      'convert',
      '--run',
      run,
      '--quantize',
      'int8',
      '--calib-samples',
      '200',
      '--eval-samples',
      '300',
      '--max-drop',
      '0',
      '--out',
      out,
    ]);
    assert.equal(r.code, 3, r.out + r.err);
    assert.match(r.err, /--max-drop/);
    assert.match(r.err, /nothing written/);
    assert.equal(existsSync(out), false);
  });

  it('bad flags exit 2 naming the flag', async () => {
    for (const [args, flag] of [
      [['--out', join(dir, 'x.onnx')], '--out'],
      [['--quantize', 'int4', '--out', join(dir, 'x.tflite')], '--quantize'],
      [['--input-type', 'int16', '--quantize', 'int8', '--out', join(dir, 'x.tflite')], '--input-type'],
      [['--qat-steps', '10', '--quantize', 'fp16', '--out', join(dir, 'x.tflite')], '--qat-steps'],
      [['--qat-steps', '-1', '--quantize', 'int8', '--out', join(dir, 'x.tflite')], '--qat-steps'],
    ] as [string[], string][]) {
      const r = await cli(['convert', '--run', run, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, new RegExp(flag));
    }
  });
});
