/**
 * .edmp bundles: round trip, signatures, tampering (API and `edge-dmp verify` exit codes), keygen,
 * inspect, and loading on the device with the golden-sample check.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BundleError,
  buildBundle,
  extractBundle,
  generateKeyPair,
  readBundle,
  signBundle,
  verifyBundle,
  writeBundle,
} from '../converter/index.js';
import { checkGolden, loadBundle } from '../device/index.js';
import { ConfigError } from '../core/errors.js';
import { grayPixels, tamper, toyContents } from './helpers/bundle-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-bundle-'));
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
let keys: { privateKeyPath: string; publicKeyPath: string; keyId: string };
let otherKeys: typeof keys;
let signed: Uint8Array;
let signedPath: string;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/edge-dmp.js', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function put(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

before(async () => {
  keys = await generateKeyPair(join(dir, 'keys'));
  otherKeys = await generateKeyPair(join(dir, 'other'));
  signedPath = join(dir, 'toy.edmp');
  signed = (await writeBundle(signedPath, toyContents(), { signKey: keys.privateKeyPath })).bytes;
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('round trip', () => {
  it('reads back the model, labels, spec, manifest fields and hashes it wrote', async () => {
    const c = toyContents();
    const b = await readBundle(signedPath);
    assert.deepEqual(b.tflite, c.tflite);
    assert.deepEqual(b.labels, c.labels);
    assert.equal(b.signed, true);
    assert.equal(b.signature?.keyId, keys.keyId);
    const m = b.manifest;
    assert.equal(m.schemaVersion, 1);
    assert.deepEqual(m.model, { ...c.model, numClasses: 3 });
    assert.deepEqual(m.input.shape, [1, 8, 8, 1]);
    assert.equal(m.input.dtype, 'float32');
    assert.deepEqual(m.input.preprocess, c.preprocess);
    assert.deepEqual(m.output, { shape: [1, 3], dtype: 'float32' });
    assert.deepEqual(m.quantization, { mode: 'int8', calibrationSamples: 200 });
    assert.deepEqual(m.stats, { params: 2198150, macs: 1234567, tfliteBytes: c.tflite.length });
    assert.deepEqual(m.reportCard, c.reportCard);
    assert.equal(m.provenance.trainingRun, 'runs/fmnist-dmp');
    assert.equal(m.provenance.dataset, 'fashion-mnist');
    assert.equal(m.provenance.createdAt, '2026-11-29T12:00:00.000Z');
    assert.equal(m.files['model.tflite'].sha256, sha(c.tflite));
    assert.equal(m.files['labels.txt'].sha256, sha('t-shirt\ntrouser\npullover\n'));
    assert.deepEqual(
      m.golden.map((g) => [g.file, g.label, g.index, g.inputSha256]),
      [
        ['golden/000.png', 'trouser', 1, sha(grayPixels(0))],
        ['golden/001.png', 'pullover', 2, sha(grayPixels(1))],
      ],
    );
    assert.equal(m.golden[0].score, 0.875);
    assert.ok(b.files.every((f) => f.ok));
  });

  it('is byte-for-byte reproducible and verifies with its key', async () => {
    const again = await buildBundle(toyContents(), { signKey: keys.privateKeyPath });
    assert.equal(again.sha256, sha(signed));
    const r = await verifyBundle(signedPath, keys.publicKeyPath);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.signature?.valid, true);
    assert.deepEqual(r.model, { name: 'toy-dmp', version: '2.1.0', sha256: sha(toyContents().tflite) });
  });

  it('refuses bad contents with ConfigError naming the field', async () => {
    await assert.rejects(
      buildBundle(toyContents({ labels: ['a', 'a', 'b'] })),
      (e: ConfigError) => e.field === 'bundle.labels',
    );
    await assert.rejects(
      buildBundle(
        toyContents({
          golden: [
            { pixels: { data: new Uint8Array(3), width: 8, height: 8, channels: 1 }, label: 'trouser' },
          ],
        }),
      ),
      (e: ConfigError) => e.field === 'bundle.golden[0].pixels',
    );
    await assert.rejects(
      buildBundle(toyContents({ preprocess: { ...toyContents().preprocess, mean: [0, 0] } })),
      (e: BundleError) => e.code === 'E_BUNDLE_SCHEMA' && e.field === 'manifest.input.preprocess.mean',
    );
    await assert.rejects(
      buildBundle(toyContents(), { signKey: otherKeys.publicKeyPath }),
      (e: ConfigError) => e.field === 'signKey',
    );
  });

  it('signBundle signs an unsigned bundle; extractBundle writes the files inside the folder only', async () => {
    const unsignedPath = put('unsigned-rt.edmp', (await buildBundle(toyContents())).bytes);
    assert.equal((await verifyBundle(unsignedPath, keys.publicKeyPath)).ok, false);
    const out = join(dir, 'resigned.edmp');
    await signBundle(unsignedPath, otherKeys.privateKeyPath, out);
    assert.equal((await verifyBundle(out, otherKeys.publicKeyPath)).ok, true);
    const written = await extractBundle(signedPath, join(dir, 'x'));
    assert.deepEqual(written.map((p) => p.slice(join(dir, 'x').length + 1)).sort(), [
      'golden/000.png',
      'golden/001.png',
      'labels.txt',
      'manifest.json',
      'model.tflite',
      'signature.sig',
    ]);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'x', 'model.tflite'))), toyContents().tflite);
    await assert.rejects(extractBundle(signedPath, join(dir, 'x')), (e: ConfigError) => e.field === 'dir');
  });
});

describe('verify rejects', () => {
  const cases: Array<[string, () => Promise<Uint8Array>, string, string]> = [
    [
      'a tampered model',
      async () => tamper(signed, (f) => (f['model.tflite'][100] ^= 1)),
      'E_BUNDLE_HASH_MISMATCH',
      'model.tflite',
    ],
    [
      'tampered labels',
      async () =>
        tamper(signed, (f) => (f['labels.txt'] = new TextEncoder().encode('trouser\nt-shirt\npullover\n'))),
      'E_BUNDLE_HASH_MISMATCH',
      'labels.txt',
    ],
    [
      'a tampered manifest (model swapped, hash updated, not re-signed)',
      async () =>
        tamper(signed, (f) => {
          f['model.tflite'][0] ^= 0xff;
          const m = JSON.parse(new TextDecoder().decode(f['manifest.json']));
          m.files['model.tflite'].sha256 = sha(f['model.tflite']);
          f['manifest.json'] = new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n');
        }),
      'E_BUNDLE_BAD_SIGNATURE',
      'manifest.json',
    ],
    [
      'an unsigned bundle',
      async () => (await buildBundle(toyContents())).bytes,
      'E_BUNDLE_UNSIGNED',
      'signature.sig',
    ],
    [
      'a bundle signed by another key',
      async () => (await buildBundle(toyContents(), { signKey: otherKeys.privateKeyPath })).bytes,
      'E_BUNDLE_WRONG_KEY',
      'signature.sig',
    ],
    [
      'a missing model file',
      async () => tamper(signed, (f) => delete f['model.tflite']),
      'E_BUNDLE_MISSING_FILE',
      'model.tflite',
    ],
    [
      'a missing golden image',
      async () => tamper(signed, (f) => delete f['golden/001.png']),
      'E_BUNDLE_MISSING_FILE',
      'golden/001.png',
    ],
    [
      'a garbled signature file',
      async () => tamper(signed, (f) => (f['signature.sig'] = new TextEncoder().encode('not json'))),
      'E_BUNDLE_BAD_JSON',
      'signature.sig',
    ],
  ];
  for (const [what, make, code, field] of cases) {
    it(`${what}: ${code} from the API and exit 1 from edge-dmp verify`, async () => {
      const p = put(`${code}-${field.replace(/\W/g, '_')}.edmp`, await make());
      const r = await verifyBundle(p, keys.publicKeyPath);
      assert.equal(r.ok, false);
      assert.ok(
        r.problems.some((x) => x.code === code && x.field === field),
        `want ${code} on ${field}, got ${JSON.stringify(r.problems)}`,
      );
      const c = cli('verify', p, '--pubkey', keys.publicKeyPath);
      assert.equal(c.code, 1, c.stderr);
      assert.match(c.stderr, new RegExp(`FAIL ${code} ${field}`));
      assert.match(c.stdout, /verification FAILED/);
    });
  }

  it('the device refuses the same bundles when loading with a key', async () => {
    const unsigned = put('dev-unsigned.edmp', (await buildBundle(toyContents())).bytes);
    const other = put(
      'dev-other.edmp',
      (await buildBundle(toyContents(), { signKey: otherKeys.privateKeyPath })).bytes,
    );
    const bad = put(
      'dev-bad.edmp',
      tamper(signed, (f) => (f['model.tflite'][5] ^= 1)),
    );
    const code = (c: string) => (e: BundleError) => e instanceof BundleError && e.code === c;
    await assert.rejects(loadBundle(unsigned, { pubkey: keys.publicKeyPath }), code('E_BUNDLE_UNSIGNED'));
    await assert.rejects(loadBundle(other, { pubkey: keys.publicKeyPath }), code('E_BUNDLE_WRONG_KEY'));
    // Hashes are checked with or without a key.
    await assert.rejects(loadBundle(bad), code('E_BUNDLE_HASH_MISMATCH'));
    // An unsigned bundle loads when no key is required.
    assert.equal((await loadBundle(unsigned)).signed, false);
  });
});

describe('CLI', () => {
  it('keygen writes a PEM pair (private key 0600) and refuses to overwrite it', () => {
    const out = join(dir, 'cli-keys');
    const r = cli('keygen', '--out', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.match(readFileSync(j.privateKeyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(readFileSync(j.publicKeyPath, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(statSync(j.privateKeyPath).mode & 0o777, 0o600);
    assert.match(j.keyId, /^[0-9a-f]{64}$/);
    const again = cli('keygen', '--out', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /E_CONFIG.*--out/);
  });

  it('verify exits 0 on a good bundle, 2 on a missing --pubkey or an unreadable path', async () => {
    const ok = cli('verify', signedPath, '--pubkey', keys.publicKeyPath);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /verified: toy-dmp 2\.1\.0/);
    assert.equal(cli('verify', signedPath).code, 2);
    assert.equal(cli('verify', join(dir, 'nope.edmp'), '--pubkey', keys.publicKeyPath).code, 2);
    await assert.rejects(verifyBundle(dir, keys.publicKeyPath), (e: ConfigError) => e.field === 'bundle');
    await assert.rejects(
      verifyBundle(signedPath, join(dir, 'nope.pub')),
      (e: ConfigError) => e.field === 'pubkey',
    );
  });

  it('sign signs an unsigned bundle in place; verify then passes', async () => {
    const p = put('cli-unsigned.edmp', (await buildBundle(toyContents())).bytes);
    assert.equal(cli('verify', p, '--pubkey', keys.publicKeyPath).code, 1);
    const s = cli('sign', p, '--key', keys.privateKeyPath, '--json');
    assert.equal(s.code, 0, s.stderr);
    assert.equal(JSON.parse(s.stdout).keyId, keys.keyId);
    assert.equal(cli('verify', p, '--pubkey', keys.publicKeyPath).code, 0);
  });

  it('inspect prints the manifest; --json gives it whole; a tampered file shows as MISMATCH with exit 1', () => {
    const t = cli('inspect', signedPath);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /model: +toy-dmp 2\.1\.0 +variant dmp +architecture efficientnet-b0/);
    assert.match(t.stdout, /input: +\[1,8,8,1\] NHWC float32/);
    assert.match(t.stdout, /quantization: int8/);
    assert.match(t.stdout, /report card: +top1Agreement=0\.995\n/);
    assert.match(t.stdout, new RegExp(`key id ${keys.keyId}`));
    const j = cli('inspect', signedPath, '--json');
    const o = JSON.parse(j.stdout);
    assert.equal(o.sha256, sha(signed));
    assert.equal(o.manifest.stats.params, 2198150);
    assert.deepEqual(o.labels, ['t-shirt', 'trouser', 'pullover']);
    const p = put(
      'inspect-tampered.edmp',
      tamper(signed, (f) => (f['labels.txt'][0] ^= 1)),
    );
    const bad = cli('inspect', p);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /MISMATCH labels\.txt/);
  });
});

describe('device side', () => {
  it('loadBundle returns what the classifier needs, with the signature checked', async () => {
    const b = await loadBundle(signedPath, { pubkey: keys.publicKeyPath });
    const c = toyContents();
    assert.deepEqual(b.modelBytes, c.tflite);
    assert.deepEqual(b.labels, c.labels);
    assert.deepEqual(b.preprocessing, c.preprocess);
    assert.deepEqual(b.identity, { name: 'toy-dmp', version: '2.1.0', sha256: sha(c.tflite) });
    assert.equal(b.signatureVerified, true);
    assert.equal(b.keyId, keys.keyId);
    assert.equal(b.golden.length, 2);
  });

  it('checkGolden feeds the exact golden pixels and compares top-1', async () => {
    const b = await loadBundle(signedPath);
    const seen: string[] = [];
    // Answers by input hash, so the test proves the pixels reached the classifier unchanged.
    const answers = new Map([
      [sha(grayPixels(0)), 'trouser'],
      [sha(grayPixels(1)), 't-shirt'],
    ]);
    const classifier = {
      async classify(f: { data: Uint8Array; width: number; height: number; format: string }) {
        seen.push(`${f.width}x${f.height} ${f.format}`);
        return { label: answers.get(sha(f.data)) ?? 'unknown', score: 0.5 };
      },
    };
    const r = await checkGolden(classifier, b);
    assert.deepEqual(seen, ['8x8 gray', '8x8 gray']);
    assert.equal(r.total, 2);
    assert.equal(r.passed, 1);
    assert.equal(r.ok, false);
    assert.deepEqual(r.results[1].got, { label: 't-shirt', score: 0.5 });
    await assert.rejects(
      checkGolden(classifier, b, { throwOnFailure: true }),
      (e: BundleError) => e.code === 'E_BUNDLE_GOLDEN' && e.field === 'golden/001.png',
    );
  });
});
