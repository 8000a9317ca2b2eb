/**
 * A second, independent TFLite implementation: Arm NN's TfLite parser with its CpuRef reference
 * backend (Debian python3-pyarmnn, test/helpers/armnn_run.py) runs every zoo model the converter
 * writes (fp32, fp16, dynamic, int8; small width/depth, 32x32, random weights and BatchNorm
 * statistics), and its outputs are compared with the project's runtime: fp32 within 1e-5 of the
 * logit range, int8 within one output quantization step. What Arm NN cannot run is printed with its
 * reason and asserted to be exactly the known list below, so a file that stops loading fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { calibrate } from '../converter/convert.js';
import { lowerModel } from '../converter/lower.js';
import { quantizeGraph, type QuantizeMode } from '../converter/quantize.js';
import { readTflite } from '../core/tflite/reader.js';
import { writeTflite } from '../converter/tflite/writer.js';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';
import { VARIANTS, type Variant } from '../sdk/models/archs.js';
import { withSeededRandom } from '../core/random.js';
import { createModel } from '../sdk/models/registry.js';
import { randomBatchNorm } from './helpers/zoo-models.js';

const PYTHON = '/usr/bin/python3'; // Debian's, where python3-pyarmnn installs
const SCRIPT = join(import.meta.dirname, 'helpers', 'armnn_run.py');
const MODES: QuantizeMode[] = ['fp32', 'fp16', 'dynamic', 'int8'];
const SAMPLES = 2;
const SIZE = 32;

/**
 * What Arm NN 20.08 (Debian bookworm) cannot run, by mode, with the reason it gives. Anything else
 * failing, or one of these starting to load, fails the test.
 */
const DEQUANTIZED_WEIGHTS =
  'weights as a DEQUANTIZE output: the 20.08 parser needs conv weights in a constant buffer';
const KNOWN_UNSUPPORTED: { reason: string; applies: (c: Case) => boolean; match: RegExp }[] = [
  { reason: DEQUANTIZED_WEIGHTS, applies: (c) => c.mode === 'fp16', match: /Buffer #0 has 0 bytes/ },
  { reason: DEQUANTIZED_WEIGHTS, applies: (c) => c.mode === 'dynamic', match: /Buffer #0 has 0 bytes/ },
];

interface Case {
  name: string;
  mode: QuantizeMode;
  file: string;
  inputs: Float32Array[];
  ours: Float32Array[];
  outScale?: number;
}

function zooModel(model: string, variant: Variant, channelOrder: 'interleave' | 'tile'): tf.LayersModel {
  const m = withSeededRandom(3, () =>
    createModel({
      model,
      variant,
      classes: 10,
      inputSize: SIZE,
      widthMult: 0.25,
      depthMult: 0.34,
      channelOrder,
    }),
  );
  // Random BatchNorm statistics: at init the logits are ~1e-16, which would compare nothing.
  randomBatchNorm(m);
  return m;
}

const dir = mkdtempSync(join(tmpdir(), 'armnn-'));
const cases: Case[] = [];

before(async () => {
  await tf.setBackend('cpu');
  const zoo: [string, Variant, 'interleave' | 'tile'][] = [];
  for (const v of Object.keys(VARIANTS) as Variant[]) zoo.push(['efficientnet-b0', v, 'interleave']);
  zoo.push(['efficientnet-b0', 'dmp', 'tile']);
  for (const v of Object.keys(VARIANTS) as Variant[]) zoo.push(['mobilenetv2', v, 'interleave']);
  for (const v of ['baseline', 'dmp'] as const) zoo.push(['efficientnet-lite0', v, 'interleave']);
  const x = tf.randomUniform([SAMPLES, SIZE, SIZE, 3], 0, 1, 'float32', 5);
  const inputs = Array.from({ length: SAMPLES }, (_, i) => x.slice(i, 1).dataSync() as Float32Array);
  for (const [model, variant, order] of zoo) {
    const m = zooModel(model, variant, order);
    const g = lowerModel(m);
    const ranges = await calibrate(g, x);
    m.dispose();
    for (const mode of MODES) {
      const bytes = writeTflite(quantizeGraph(g, mode, { ranges }));
      const name = `${model} ${variant}${order === 'tile' ? ' (tile)' : ''} ${mode}`;
      const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '_')}.tflite`);
      writeFileSync(file, bytes);
      const rt = await loadTfliteModel(bytes);
      const ours = inputs.map((inp) => rt.infer([inp])[0] as Float32Array);
      rt.dispose();
      // int8 files end in DEQUANTIZE: one step of the int8 tensor before it.
      const back = readTflite(bytes);
      const last = back.ops[back.ops.length - 1];
      const outScale = last.op === 'DEQUANTIZE' ? back.tensors[last.inputs[0]].quant?.scale[0] : undefined;
      cases.push({ name, mode, file, inputs, ours, outScale });
    }
  }
  x.dispose();
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('Arm NN (TfLite parser, CpuRef) runs the converter output like our runtime', () => {
  it('every zoo model in every mode: runs and matches, or is a known unsupported case', () => {
    const jobs = cases.flatMap((c, ci) =>
      c.inputs.map((inp, si) => {
        const input = join(dir, `in-${ci}-${si}.bin`);
        writeFileSync(input, Buffer.from(inp.buffer, inp.byteOffset, inp.byteLength));
        return { model: c.file, input, output: join(dir, `out-${ci}-${si}.bin`), ci, si };
      }),
    );
    const jobsFile = join(dir, 'jobs.json');
    writeFileSync(jobsFile, JSON.stringify(jobs));
    const lines = execFileSync(PYTHON, [SCRIPT, jobsFile], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 120_000,
    })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; stage?: string; error?: string });
    assert.equal(lines.length, jobs.length);

    const failures: string[] = [];
    const unexpected: string[] = [];
    const table: string[] = [];
    cases.forEach((c, ci) => {
      const res = jobs.map((j, k) => ({ j, r: lines[k] })).filter(({ j }) => j.ci === ci);
      const bad = res.find(({ r }) => !r.ok);
      const known = KNOWN_UNSUPPORTED.find((k) => k.applies(c));
      if (bad) {
        const msg = `${c.name}: ${bad.r.stage}: ${bad.r.error}`;
        if (known && known.match.test(bad.r.error ?? ''))
          failures.push(`${c.name}: ${known.reason}: ${bad.r.error?.match(known.match)?.[1] ?? ''}`);
        else unexpected.push(`not run by Arm NN: ${msg}`);
        return;
      }
      if (known) unexpected.push(`${c.name} now runs in Arm NN: remove it from KNOWN_UNSUPPORTED`);
      let maxDiff = 0;
      let lo = Infinity;
      let hi = -Infinity;
      res.forEach(({ j }) => {
        const buf = readFileSync(j.output);
        const theirs = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        const ours = c.ours[j.si];
        assert.equal(theirs.length, ours.length, `${c.name}: output length`);
        ours.forEach((v, i) => {
          maxDiff = Math.max(maxDiff, Math.abs(v - theirs[i]));
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        });
      });
      const range = hi - lo;
      const rel = maxDiff / range;
      // int8: within one step of the output's grid (plus float rounding of the dequantized value).
      const steps = c.outScale ? maxDiff / c.outScale : undefined;
      const pass = c.outScale ? (steps as number) <= 1 + 1e-3 : rel <= 1e-5;
      table.push(
        `${pass ? 'ok  ' : 'FAIL'} ${c.name.padEnd(36)} max |diff| ${maxDiff.toExponential(2)}  logit range ${range.toFixed(3)}` +
          (steps === undefined ? `  rel ${rel.toExponential(2)}` : `  ${steps.toFixed(2)} output steps`),
      );
      if (!pass) unexpected.push(`${c.name}: outside tolerance (max |diff| ${maxDiff}, range ${range})`);
      assert.ok(range > 0.1, `${c.name}: logits must vary (range ${range})`);
    });
    console.log(
      `Arm NN CpuRef vs our TFLite runtime, ${SAMPLES} inputs per model:\n${table.join('\n')}` +
        `\nnot runnable in Arm NN (${failures.length}):\n${failures.join('\n')}`,
    );
    assert.deepEqual(unexpected, []);
    // Exactly the known list: every zoo model in the modes Arm NN can't read, nothing else.
    const expected = cases.filter((c) => KNOWN_UNSUPPORTED.some((k) => k.applies(c))).length;
    assert.equal(failures.length, expected);
    // Every fp32 and int8 file runs: the lowering uses no op the 20.08 parser lacks (GATHER,
    // REDUCE_MAX, TILE), and the int8 files follow the quantization spec it enforces.
    assert.equal(table.length, cases.filter((c) => c.mode === 'fp32' || c.mode === 'int8').length);
    assert.ok(table.length > 0);
  });
});
