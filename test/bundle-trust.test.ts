/**
 * Signatures by default and the version floor (issue 16, finding 4), through the real CLI:
 * `classify`/`run --bundle` refuse unsigned and untrusted bundles unless --allow-unsigned (or the
 * config key), say which key verified, remember a --pubkey key, and refuse a validly signed
 * older version unless --allow-downgrade. The signature is checked before the model is inflated.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { BundleError, generateKeyPair, keyIdOf, loadPublicKey, writeBundle } from '../converter/bundle.js';
import { loadBundle } from '../device/bundle.js';
import { acceptVersion, compareVersions, readFloor } from '../device/version-floor.js';
import { defaultPreprocess } from '../core/preprocess.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';
import { entriesOf, rawZip } from './helpers/bundle-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-trust-'));
const home = join(dir, 'home');
const env = { ...process.env, EDGE_DMP_HOME: home };
after(() => rmSync(dir, { recursive: true, force: true }));
let pub: string;
let otherPub: string;
let keyId: string;
const img = join(dir, 'red.png');
const path = (n: string) => join(dir, `${n}.edmp`);

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/edge-dmp.js', ...args],
      { timeout: 60_000, env },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

const contents = (version: string) => ({
  tflite: tinyModel({ kind: 'colour', size: [16, 16] }),
  labels: COLOUR_LABELS,
  model: { name: 'trusty', version, variant: 'test', architecture: 'mean-fc' },
  preprocess: defaultPreprocess([16, 16], 3),
  quantization: 'fp32' as const,
});

before(async () => {
  const keys = await generateKeyPair(join(dir, 'keys'));
  const other = await generateKeyPair(join(dir, 'other'));
  pub = keys.publicKeyPath;
  otherPub = other.publicKeyPath;
  keyId = keyIdOf(await loadPublicKey(pub));
  await writeBundle(path('unsigned'), contents('1.0.0'));
  await writeBundle(path('other'), contents('1.0.0'), { signKey: other.privateKeyPath });
  for (const v of ['1.0.0', '2.0.0', '1.5.0']) {
    await writeBundle(path(`v${v}`), contents(v), { signKey: keys.privateKeyPath });
  }
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#e02020' } })
    .png()
    .toFile(img);
});

describe('signatures by default', () => {
  it('an unsigned bundle is refused, naming the way out; --allow-unsigned runs it with a warning', async () => {
    const r = await cli('classify', '--bundle', path('unsigned'), img);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_BUNDLE_UNSIGNED.*no signature.*--allow-unsigned/);
    assert.equal(r.stdout, '');
    const ok = await cli('classify', '--bundle', path('unsigned'), '--allow-unsigned', img);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /WARNING: trusty 1\.0\.0 is not verified \(no signature\)/);
    assert.match(ok.stdout, /red\.png: red/);
  });

  it('the config key allowUnsigned does the same', async () => {
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'config.json'), '{"allowUnsigned": true}');
    const ok = await cli('classify', '--bundle', path('unsigned'), img);
    rmSync(join(home, 'config.json'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /WARNING/);
  });

  it('a bundle signed by an untrusted key is refused when no key is configured', async () => {
    const r = await cli('run', '--bundle', path('other'), '--source', 'testsrc:', '--max-frames', '1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_BUNDLE_WRONG_KEY.*trusted: none configured/);
  });

  it('--pubkey once: the key is trusted from then on and the verifying key is named', async () => {
    const first = await cli('classify', '--bundle', path('v1.0.0'), '--pubkey', pub, img);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stderr,
      new RegExp(`trusted key ${keyId.slice(0, 16)} added to ${join(home, 'trusted-keys')}`),
    );
    assert.match(first.stderr, new RegExp(`trusty 1\\.0\\.0 signed by trusted key ${keyId.slice(0, 16)}`));
    const later = await cli('classify', '--bundle', path('v1.0.0'), img);
    assert.equal(later.code, 0, later.stderr);
    assert.match(later.stderr, new RegExp(`signed by trusted key ${keyId.slice(0, 16)}`));
    assert.doesNotMatch(later.stderr, /added/);
    // The other key is still not trusted.
    const other = await cli('classify', '--bundle', path('other'), img);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /E_BUNDLE_WRONG_KEY/);
    // An explicit --trusted-keys file is used instead of the default one.
    const explicit = join(dir, 'fleet-keys');
    writeFileSync(explicit, readFileSync(otherPub));
    const viaFile = await cli('classify', '--bundle', path('other'), '--trusted-keys', explicit, img);
    assert.equal(viaFile.code, 0, viaFile.stderr);
  });

  it('a validly signed lower version is refused after a higher one, unless --allow-downgrade', async () => {
    const up = await cli('classify', '--bundle', path('v2.0.0'), img);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /trusty 2\.0\.0 signed by trusted key .*previous 1\.0\.0/);
    const down = await cli('run', '--bundle', path('v1.5.0'), '--source', 'testsrc:', '--max-frames', '1');
    assert.equal(down.code, 2);
    assert.match(down.stderr, /E_BUNDLE_DOWNGRADE.*1\.5\.0 is lower than 2\.0\.0.*--allow-downgrade/);
    const floorPath = join(home, 'version-floor.json');
    assert.equal(readFloor(floorPath)[`${keyId}:trusty`], '2.0.0');
    const forced = await cli('classify', '--bundle', path('v1.5.0'), '--allow-downgrade', img);
    assert.equal(forced.code, 0, forced.stderr);
  });

  it('the signature is checked before the model is inflated: a corrupt model stream is never reached', async () => {
    const es = entriesOf(readFileSync(path('unsigned')));
    const bomb = rawZip(
      es.map((e) =>
        e.name === 'model.tflite' ? { ...e, body: new Uint8Array([0xff, 0xff, 0xff, 0xff]) } : e,
      ),
    );
    await assert.rejects(
      loadBundle(bomb, { requireSignature: true }),
      (e: unknown) => e instanceof BundleError && e.code === 'E_BUNDLE_UNSIGNED',
    );
    // Without the signature requirement the same archive fails only when the model is inflated.
    await assert.rejects(
      loadBundle(bomb),
      (e: unknown) => e instanceof BundleError && e.code === 'E_BUNDLE_FORMAT',
    );
  });
});

describe('version floor module', () => {
  it('compares versions numerically, pre-releases below releases', () => {
    const cases: Array<[string, string, number]> = [
      ['1.10.0', '1.9.2', 1],
      ['2.0.0', '10.0.0', -1],
      ['1.0', '1.0.0', 0],
      ['1.0.0-rc1', '1.0.0', -1],
      ['1.0.0-rc2', '1.0.0-rc1', 1],
    ];
    for (const [a, b, want] of cases) assert.equal(compareVersions(a, b), want, `${a} vs ${b}`);
  });

  it('acceptVersion raises, keeps and refuses; an unreadable floor is a ConfigError naming the file', () => {
    const f = join(dir, 'floor.json');
    assert.deepEqual(acceptVersion(f, 'k:m', '1.2.0'), { previous: null, floor: '1.2.0' });
    assert.deepEqual(acceptVersion(f, 'k:m', '1.2.0'), { previous: '1.2.0', floor: '1.2.0' });
    assert.throws(() => acceptVersion(f, 'k:m', '1.1.9'), {
      code: 'E_BUNDLE_DOWNGRADE',
      field: 'model.version',
    });
    assert.deepEqual(acceptVersion(f, 'k:other', '0.1.0'), { previous: null, floor: '0.1.0' });
    writeFileSync(f, '{"k:m": 3');
    assert.throws(() => readFloor(f), { code: 'E_CONFIG', field: f });
  });
});
