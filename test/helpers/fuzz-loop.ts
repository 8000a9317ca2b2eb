/**
 * The fuzz loop of test/fuzz-readers.test.ts, run in a child process with a heap cap so that an
 * unbounded allocation kills only the child. Usage:
 *   node --max-old-space-size=N --import tsx test/helpers/fuzz-loop.ts <seed> <models> <bundles>
 * Prints one JSON line: counts of results and typed errors per reader, the untyped failures
 * (should be none) and the peak RSS seen between cases.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { buildBundle, readBundle, verifyBundle } from '../../converter/bundle.js';
import { readTflite } from '../../core/tflite/reader.js';
import { Rng } from '../../core/random.js';
import { EdgeDmpError } from '../../core/errors.js';
import { toyContents, toyTflite } from './bundle-fixtures.js';
import { tinyModel } from './device-models.js';

const [seed, nModels, nBundles] = process.argv.slice(2).map(Number);
const rng = new Rng(seed);
const BIG = [0x7fffffff, 0xffffffff, 0x80000000, 0x10000, 0xfffffff0, 0x40000000];

/** A copy of `src` with one of several mutations: byte flips, a large 4-byte field, truncation, a spliced run. */
export function mutate(src: Uint8Array, r: Rng): Uint8Array {
  const b = Uint8Array.from(src);
  const kind = r.int(5);
  if (kind === 0) {
    for (let i = 0, n = 1 + r.int(8); i < n; i++) b[r.int(b.length)] ^= 1 << r.int(8);
  } else if (kind === 1) {
    const at = r.int(b.length - 4) & ~3;
    new DataView(b.buffer).setUint32(at, BIG[r.int(BIG.length)], true);
  } else if (kind === 2) {
    return b.subarray(0, r.int(b.length));
  } else if (kind === 3) {
    const at = r.int(b.length - 4);
    new DataView(b.buffer).setUint32(at, r.int(2 ** 32), true);
  } else {
    const from = r.int(b.length);
    const to = r.int(b.length);
    b.copyWithin(to, from, from + 1 + r.int(64));
  }
  return b;
}

const tally = () => ({ ok: 0, typed: 0, untyped: [] as string[] });
const out = { models: tally(), bundles: tally(), signedModels: tally(), peakRssMb: 0 };
const note = (t: ReturnType<typeof tally>, e: unknown) => {
  if (e instanceof EdgeDmpError) t.typed++;
  else if (t.untyped.length < 10) t.untyped.push(String((e as Error)?.stack ?? e).slice(0, 300));
};
const rss = () => {
  out.peakRssMb = Math.max(out.peakRssMb, process.memoryUsage().rss / 2 ** 20);
};

const models = [
  toyTflite(),
  tinyModel({ kind: 'colour', size: [8, 8] }),
  tinyModel({ kind: 'gray', io: 'int8' }),
];
for (let i = 0; i < nModels; i++) {
  const m = mutate(models[i % models.length], rng);
  try {
    readTflite(m);
    out.models.ok++;
  } catch (e) {
    note(out.models, e);
  }
  rss();
}

{
  // A fixed Ed25519 key (PKCS#8 around a 32-byte seed), so the bundles, and the counts, repeat.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]);
  const signKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(signKey);
  const base = toyContents({ golden: [] });
  const good = (await buildBundle(base, { signKey })).bytes;
  for (let i = 0; i < nBundles; i++) {
    // Half: raw mutations of the archive; half: a mutated model in a validly signed bundle.
    const signed = i % 2 === 1;
    const t = signed ? out.signedModels : out.bundles;
    const bytes = signed
      ? (await buildBundle({ ...base, tflite: mutate(base.tflite, rng) }, { signKey })).bytes
      : mutate(good, rng);
    try {
      await readBundle(bytes);
      const r = await verifyBundle(bytes, pub);
      if (r.ok) t.ok++;
      else t.typed++;
    } catch (e) {
      note(t, e);
    }
    rss();
  }
}
console.log(JSON.stringify(out));
