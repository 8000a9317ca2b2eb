/**
 * Hostile .edmp archives: every one is refused with a typed BundleError by readBundle and the
 * device loader, reported (not thrown) by verifyBundle, and nothing lands outside a folder.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32, deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BundleError,
  buildBundle,
  extractBundle,
  generateKeyPair,
  readBundle,
  verifyBundle,
} from '../converter/index.js';
import { loadBundle } from '../device/index.js';
import { entriesOf, rawZip, toyContents, type RawEntry } from './helpers/bundle-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-hostile-'));
let pub: string;
let good: RawEntry[];
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  const keys = await generateKeyPair(join(dir, 'keys'));
  pub = keys.publicKeyPath;
  good = entriesOf((await buildBundle(toyContents(), { signKey: keys.privateKeyPath })).bytes);
});

const enc = (s: string) => new TextEncoder().encode(s);
/** The good bundle's entries with `edit` applied. */
const withEntries = (edit: (e: RawEntry[]) => RawEntry[]) => rawZip(edit(good.map((e) => ({ ...e }))));
const editManifest = (f: (m: any) => void) =>
  withEntries((es) =>
    es.map((e) => {
      if (e.name !== 'manifest.json') return e;
      const m = JSON.parse(new TextDecoder().decode(e.data));
      f(m);
      return { ...e, data: enc(JSON.stringify(m)) };
    }),
  );

const CASES: Array<[string, () => Uint8Array, string, RegExp?]> = [
  [
    'zip slip: ../ in a name',
    () => withEntries((es) => [...es, { name: '../evil.txt', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
    /"\.\." path segment/,
  ],
  [
    'zip slip: nested golden/../../',
    () => withEntries((es) => [...es, { name: 'golden/../../evil', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
  ],
  [
    'absolute path',
    () => withEntries((es) => [...es, { name: '/tmp/evil.txt', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
    /absolute path/,
  ],
  [
    'Windows drive path',
    () => withEntries((es) => [...es, { name: 'C:/evil.txt', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
  ],
  [
    'backslash traversal',
    () => withEntries((es) => [...es, { name: 'a\\..\\..\\evil', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
  ],
  [
    'control character in a name',
    () => withEntries((es) => [...es, { name: 'a\nb', data: enc('x') }]),
    'E_BUNDLE_UNSAFE_PATH',
  ],
  [
    'duplicate model.tflite (second copy would shadow the hashed one)',
    () => withEntries((es) => [...es, { name: 'model.tflite', data: enc('evil model') }]),
    'E_BUNDLE_DUPLICATE',
  ],
  [
    'declared size of 3 GiB (refused before allocating)',
    () =>
      withEntries((es) =>
        es.map((e) => (e.name === 'model.tflite' ? { ...e, declaredSize: 3 * 2 ** 30 } : e)),
      ),
    'E_BUNDLE_TOO_LARGE',
  ],
  [
    'deflate bomb in labels.txt declaring its listed size, inflating to 64 MiB',
    () =>
      withEntries((es) =>
        es.map((e) =>
          e.name === 'labels.txt'
            ? { ...e, data: new Uint8Array(64 * 2 ** 20), declaredSize: e.data.length, crc: crc32(e.data) }
            : e,
        ),
      ),
    'E_BUNDLE_FORMAT',
    /CRC-32/,
  ],
  [
    'entry declaring a size other than the manifest lists (refused before inflating)',
    () =>
      withEntries((es) =>
        es.map((e) => (e.name === 'labels.txt' ? { ...e, declaredSize: e.data.length + 10 } : e)),
      ),
    'E_BUNDLE_HASH_MISMATCH',
  ],
  [
    'a large unlisted entry with a garbage stream: refused from the directory, never inflated',
    () =>
      withEntries((es) => [
        ...es,
        {
          name: 'golden/big.png',
          data: enc('x'),
          declaredSize: 200 * 2 ** 20,
          body: new Uint8Array([1, 2, 3]),
        },
      ]),
    'E_BUNDLE_UNEXPECTED_ENTRY',
  ],
  [
    'manifest over 1 MiB',
    () =>
      withEntries((es) =>
        es.map((e) =>
          e.name === 'manifest.json' ? { ...e, data: new Uint8Array(2 ** 20 + 1).fill(32) } : e,
        ),
      ),
    'E_BUNDLE_TOO_LARGE',
  ],
  [
    'too many entries',
    () =>
      withEntries((es) => [
        ...es,
        ...Array.from({ length: 70 }, (_, i) => ({ name: `x${i}`, data: enc('x') })),
      ]),
    'E_BUNDLE_TOO_LARGE',
  ],
  [
    'an entry the manifest does not list',
    () => withEntries((es) => [...es, { name: 'payload.sh', data: enc('rm -rf /') }]),
    'E_BUNDLE_UNEXPECTED_ENTRY',
  ],
  [
    'bad JSON in manifest.json',
    () =>
      withEntries((es) =>
        es.map((e) => (e.name === 'manifest.json' ? { ...e, data: enc('{"schemaVersion": 1,') } : e)),
      ),
    'E_BUNDLE_BAD_JSON',
  ],
  [
    'manifest.json not an object',
    () => withEntries((es) => es.map((e) => (e.name === 'manifest.json' ? { ...e, data: enc('[1,2]') } : e))),
    'E_BUNDLE_SCHEMA',
  ],
  [
    'wrong schema version',
    () => editManifest((m) => (m.schemaVersion = 99)),
    'E_BUNDLE_SCHEMA',
    /manifest\.schemaVersion/,
  ],
  [
    'input shape contradicting the preprocess spec',
    () => editManifest((m) => (m.input.shape = [1, 32, 32, 3])),
    'E_BUNDLE_SCHEMA',
    /manifest\.input\.shape/,
  ],
  [
    'manifest naming a file with ..',
    () => editManifest((m) => (m.files['../x'] = m.files['labels.txt'])),
    'E_BUNDLE_SCHEMA',
  ],
  [
    'no manifest.json',
    () => withEntries((es) => es.filter((e) => e.name !== 'manifest.json')),
    'E_BUNDLE_MISSING_FILE',
  ],
  [
    'corrupt deflate data in model.tflite',
    () =>
      withEntries((es) =>
        es.map((e) => {
          if (e.name !== 'model.tflite') return e;
          const body = deflateRawSync(e.data);
          body[Math.floor(body.length / 2)] ^= 0x55;
          return { ...e, body };
        }),
      ),
    'E_BUNDLE_FORMAT',
  ],
  [
    'unknown compression method',
    () => withEntries((es) => es.map((e) => (e.name === 'labels.txt' ? { ...e, method: 12 as 8 } : e))),
    'E_BUNDLE_FORMAT',
    /compression/,
  ],
  ['not a zip at all', () => enc('this is not an archive, just text that is long enough'), 'E_BUNDLE_FORMAT'],
  ['a truncated archive', () => withEntries((es) => es).subarray(0, 2000), 'E_BUNDLE_FORMAT'],
  ['an empty file', () => new Uint8Array(0), 'E_BUNDLE_FORMAT'],
];

describe('hostile archives', () => {
  for (const [what, make, code, msg] of CASES) {
    it(`${what} -> ${code}`, async () => {
      const bytes = make();
      const p = join(dir, `${code}-${what.replace(/\W+/g, '_').slice(0, 40)}.edmp`);
      writeFileSync(p, bytes);
      const isCode = (e: unknown) => {
        assert.ok(e instanceof BundleError, `expected BundleError, got ${e}`);
        assert.equal(e.code, code, e.message);
        if (msg) assert.match(e.message, msg);
        return true;
      };
      await assert.rejects(readBundle(p), isCode);
      await assert.rejects(loadBundle(bytes), isCode);
      const r = await verifyBundle(p, pub);
      assert.equal(r.ok, false);
      assert.equal(r.problems[0]?.code, code);
    });
  }

  it('edge-dmp verify exits 1 on a zip-slip archive and names the entry', () => {
    const p = join(dir, 'slip-cli.edmp');
    writeFileSync(
      p,
      withEntries((es) => [...es, { name: '../evil.txt', data: enc('x') }]),
    );
    const r = spawnSync(process.execPath, ['bin/edge-dmp.js', 'verify', p, '--pubkey', pub], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_BUNDLE_UNSAFE_PATH.*\.\.\/evil\.txt/);
  });

  it('extraction of a zip-slip archive writes nothing, inside or outside the folder', async () => {
    const root = join(dir, 'extract-root');
    mkdirSync(root);
    const target = join(root, 'out');
    const bytes = withEntries((es) => [{ name: '../evil.txt', data: enc('x') }, ...es]);
    await assert.rejects(extractBundle(bytes, target), (e: BundleError) => e.code === 'E_BUNDLE_UNSAFE_PATH');
    assert.equal(existsSync(join(root, 'evil.txt')), false);
    assert.deepEqual(readdirSync(root), []);
  });

  it('custom limits cap the total uncompressed size', async () => {
    const ok = rawZip(good);
    await assert.rejects(
      readBundle(ok, { limits: { maxTotalBytes: 1000 } }),
      (e: BundleError) =>
        e.code === 'E_BUNDLE_TOO_LARGE' && /at most 1000 bytes uncompressed in all/.test(e.message),
    );
    assert.equal((await readBundle(ok)).labels.length, 3);
  });
});
