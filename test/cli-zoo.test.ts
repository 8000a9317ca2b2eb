import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/edge-dmp.js', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('edge-dmp models lists every EfficientNet size and MobileNetV2', () => {
  const r = cli('models', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { models: { name: string }[]; variants: string[] };
  const names = j.models.map((m) => m.name);
  for (const n of ['efficientnet-b0', 'efficientnet-b7', 'mobilenetv2']) assert.ok(names.includes(n), n);
  assert.deepEqual(j.variants, ['baseline', 'maxpool', 'duplicate', 'dmp']);
});

test('edge-dmp summary --json carries the documented fields', () => {
  const r = cli(
    'summary',
    '--model',
    'efficientnet-b0',
    '--variant',
    'dmp',
    '--classes',
    '10',
    '--input',
    '224',
    '--json',
  );
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.model, 'efficientnet-b0');
  assert.equal(s.variant, 'dmp');
  assert.equal(s.classes, 10);
  assert.equal(s.input, 224);
  assert.equal(s.trainableParams, 2_198_150);
  assert.ok(s.nonTrainableParams > 0);
  assert.ok(s.macs > 1e8 && s.macs < 3e8);
  assert.equal(s.bytes.fp16 * 2, s.bytes.fp32);
  assert.ok(s.bytes.int8 < s.bytes.fp16);
});

test('edge-dmp summary --compare prints Table 1 exactly, with % of B0', () => {
  const r = cli('summary', '--compare', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    rows: { variant: string; trainableParams: number; paper: number; percentOfBaseline: number }[];
  };
  for (const row of j.rows) assert.equal(row.trainableParams, row.paper, row.variant);
  assert.equal(j.rows.find((x) => x.variant === 'dmp')?.percentOfBaseline, 54.7);
  const text = cli('summary', '--compare');
  assert.equal(text.code, 0);
  assert.match(text.out, /Duplicate Max-pooling\s+2,198,150\s+54\.7%/);
  assert.doesNotMatch(text.out, /\bNO\b/);
});

test('bad input: unknown model, bad number, unknown flag and command are named errors', () => {
  const a = cli('summary', '--model', 'resnet50');
  assert.equal(a.code, 2);
  assert.match(a.err, /ConfigError \[E_CONFIG\] model: expected one of efficientnet-b0/);
  const b = cli('summary', '--width-mult', 'wide');
  assert.equal(b.code, 2);
  assert.match(b.err, /--width-mult: expected a number, got "wide"/);
  const c = cli('summary', '--frobnicate');
  assert.equal(c.code, 2);
  assert.match(c.err, /--frobnicate/);
  const d = cli('no-such-command');
  assert.equal(d.code, 2);
  assert.match(d.err, /unknown command "no-such-command"/);
});
