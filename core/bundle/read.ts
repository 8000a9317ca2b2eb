/**
 * Reading, verifying and extracting `.edmp` bundles (format: ./format.ts, docs/bundle.md): what a
 * board needs to check a signed bundle, without the converter.
 */
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { ConfigError, EdgeDmpError } from '../errors.js';
import { readTflite } from '../tflite/reader.js';
import {
  BUNDLE_ERROR_CODES,
  BundleError,
  DEFAULT_LIMITS,
  LABELS_FILE,
  MANIFEST_FILE,
  MODEL_FILE,
  SIGNATURE_FILE,
  checkFiles,
  checkSignature,
  keyIdOf,
  openArchive,
  parseLabels,
  parseManifest,
  parseSignature,
  sha256Hex,
  type BundleLimits,
  type BundleManifest,
  type FileCheck,
  type SignatureCheck,
  type SignatureFile,
} from './format.js';
import { loadPublicKey, type KeySource } from './keys.js';

/** Where bundle bytes come from: a path or the bytes themselves. */
export type BundleSource = string | Uint8Array;

/** Reads a bundle file with a size check before reading it all. */
export async function readBundleBytes(
  src: BundleSource,
  limits: Partial<BundleLimits> = {},
): Promise<Uint8Array> {
  if (typeof src !== 'string') return src;
  const max = limits.maxArchiveBytes ?? DEFAULT_LIMITS.maxArchiveBytes;
  const unreadable = (e: unknown) =>
    new ConfigError(
      { field: 'bundle', expected: 'a readable .edmp file', received: src },
      `bundle: cannot read ${src}: ${(e as Error).message}`,
    );
  let size: number;
  try {
    const st = await stat(src);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw unreadable(e);
  }
  if (size > max) {
    throw new BundleError(BUNDLE_ERROR_CODES.tooLarge, {
      field: src,
      expected: `at most ${max} bytes`,
      received: `${size} bytes`,
    });
  }
  try {
    return new Uint8Array(await readFile(src));
  } catch (e) {
    throw unreadable(e);
  }
}

export interface ReadOptions {
  limits?: Partial<BundleLimits>;
  /** Throw on files whose hash or size differ from the manifest (default true). `inspect` turns it off to show them. */
  strict?: boolean;
  /**
   * Called with the exact manifest.json and signature.sig bytes after the manifest is parsed and
   * before any other entry is inflated: throw to refuse the bundle (the device's signature check),
   * so nothing an unauthorised signer put in the archive is ever inflated.
   */
  authorize?: (
    manifestBytes: Uint8Array,
    signatureBytes: Uint8Array | undefined,
    manifest: BundleManifest,
  ) => void;
}

export interface ReadBundle {
  manifest: BundleManifest;
  /** The exact manifest.json bytes (what the signature covers). */
  manifestBytes: Uint8Array;
  tflite: Uint8Array;
  labels: string[];
  /** Golden PNGs by entry name. */
  goldenImages: Map<string, Uint8Array>;
  signed: boolean;
  /** The parsed signature.sig; null when unsigned or unreadable (see `signatureError`). */
  signature: SignatureFile | null;
  /** Why signature.sig could not be parsed (verify reports it as a problem). */
  signatureError?: string;
  /** The exact signature.sig bytes, when signed. */
  signatureBytes: Uint8Array | null;
  /** Every archive entry by name (already size-, CRC- and name-checked). */
  entries: Map<string, Uint8Array>;
  /** Per-file integrity against the manifest. */
  files: FileCheck[];
  /** SHA-256 of the whole archive. */
  sha256: string;
}

/**
 * Reads and checks a bundle: container safety, manifest schema, every listed file present and
 * (unless `strict: false`) matching its hash, no unlisted entries, labels matching the model.
 * Only manifest.json and signature.sig are inflated before the manifest has been checked against
 * the central directory (names, declared sizes) and `authorize` has run.
 * Does not check the signature: that needs a public key, see {@link verifyBundle} and `authorize`.
 *
 * @example const { manifest, tflite, labels, signed } = await readBundle('model.edmp');
 */
export async function readBundle(src: BundleSource, opts: ReadOptions = {}): Promise<ReadBundle> {
  const data = await readBundleBytes(src, opts.limits);
  const archive = openArchive(data, opts.limits);
  if (archive.sizeOf(MANIFEST_FILE) === undefined) {
    throw new BundleError(BUNDLE_ERROR_CODES.missingFile, {
      field: MANIFEST_FILE,
      expected: 'an entry in the archive',
      received: archive.names,
    });
  }
  const manifestBytes = archive.read(MANIFEST_FILE);
  const manifest = parseManifest(manifestBytes);
  const extra = archive.names.filter(
    (n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE && !manifest.files[n],
  );
  if (extra.length) {
    throw new BundleError(BUNDLE_ERROR_CODES.unexpectedEntry, {
      field: extra[0],
      expected: 'only manifest.json, signature.sig and files listed in the manifest',
      received: extra,
    });
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const declared = archive.sizeOf(name);
    if (declared === undefined) {
      throw new BundleError(BUNDLE_ERROR_CODES.missingFile, {
        field: name,
        expected: 'an entry listed in manifest.files',
        received: 'absent from the archive',
      });
    }
    // A size the manifest does not vouch for is refused before inflating, even by inspect.
    if (declared !== want.size) {
      throw new BundleError(BUNDLE_ERROR_CODES.hashMismatch, {
        field: name,
        expected: `${want.size} bytes (manifest.files)`,
        received: `${declared} bytes declared in the archive`,
      });
    }
  }
  const sigBytes = archive.sizeOf(SIGNATURE_FILE) === undefined ? undefined : archive.read(SIGNATURE_FILE);
  opts.authorize?.(manifestBytes, sigBytes, manifest);
  const entries = new Map<string, Uint8Array>([[MANIFEST_FILE, manifestBytes]]);
  if (sigBytes) entries.set(SIGNATURE_FILE, sigBytes);
  for (const name of archive.names) if (!entries.has(name)) entries.set(name, archive.read(name));
  const files = checkFiles(manifest, entries);
  const bad = files.find((f) => !f.ok);
  if (bad && opts.strict !== false) {
    throw new BundleError(BUNDLE_ERROR_CODES.hashMismatch, {
      field: bad.name,
      expected: `sha256 ${bad.expectedSha256} (${bad.expectedSize} bytes)`,
      received: `sha256 ${bad.actualSha256} (${bad.actualSize} bytes)`,
    });
  }
  if (opts.strict !== false) checkModel(entries.get(MODEL_FILE)!);
  const labels = parseLabels(entries.get(LABELS_FILE)!);
  if (labels.length !== manifest.model.numClasses) {
    throw new BundleError(BUNDLE_ERROR_CODES.schema, {
      field: LABELS_FILE,
      expected: `${manifest.model.numClasses} labels (manifest.model.numClasses)`,
      received: `${labels.length} lines`,
    });
  }
  const goldenImages = new Map(manifest.golden.map((g) => [g.file, entries.get(g.file)!]));
  return {
    manifest,
    manifestBytes,
    tflite: entries.get(MODEL_FILE)!,
    labels,
    goldenImages,
    signed: sigBytes !== undefined,
    ...signatureOf(sigBytes),
    signatureBytes: sigBytes ?? null,
    entries,
    files,
    sha256: sha256Hex(data),
  };
}

/**
 * Parses model.tflite with the bounded reader, so a signed bundle whose model would make a reader
 * allocate without bound (or is not a flatbuffer at all) is refused here, before any runtime sees it.
 */
function checkModel(tflite: Uint8Array): void {
  try {
    readTflite(tflite);
  } catch (e) {
    const why = e instanceof EdgeDmpError ? e.message : String(e);
    throw new BundleError(
      BUNDLE_ERROR_CODES.model,
      { field: MODEL_FILE, expected: 'a well-formed .tflite flatbuffer', received: why },
      `${MODEL_FILE}: ${why}`,
    );
  }
}

// A garbled signature.sig must not hide the rest of the bundle from inspect; verify reports it.
function signatureOf(bytes: Uint8Array | undefined): {
  signature: SignatureFile | null;
  signatureError?: string;
} {
  if (!bytes) return { signature: null };
  try {
    return { signature: parseSignature(bytes) };
  } catch (e) {
    return { signature: null, signatureError: (e as Error).message };
  }
}

/** One line of a verification report. */
export interface VerifyProblem {
  code: string;
  field: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  /** The archive could be read and its manifest parsed. */
  readable: boolean;
  model: { name: string; version: string; sha256: string } | null;
  signature: SignatureCheck | null;
  files: FileCheck[];
  problems: VerifyProblem[];
}

/**
 * Verifies a bundle against a public key: every file hash, no missing or extra entries, and a valid
 * Ed25519 signature by that key. Never throws for a bad bundle (hostile archives included): it
 * reports `ok: false` with one problem per failure. Throws ConfigError for an unusable key or path.
 *
 * @example
 * const report = await verifyBundle('model.edmp', 'keys/edmp.pub');
 * if (!report.ok) for (const p of report.problems) console.error(p.code, p.message);
 */
export async function verifyBundle(
  src: BundleSource,
  pubkey: KeySource,
  opts: { limits?: Partial<BundleLimits> } = {},
): Promise<VerifyReport> {
  const key = await loadPublicKey(pubkey);
  const data = await readBundleBytes(src, opts.limits);
  const report: VerifyReport = {
    ok: false,
    readable: false,
    model: null,
    signature: null,
    files: [],
    problems: [],
  };
  const fail = (e: unknown) => {
    if (!(e instanceof BundleError)) throw e;
    report.problems.push({ code: e.code, field: e.field, message: e.message });
  };
  let b: ReadBundle;
  try {
    b = await readBundle(data, { limits: opts.limits, strict: false });
  } catch (e) {
    fail(e);
    return report;
  }
  report.readable = true;
  report.files = b.files;
  report.model = {
    name: b.manifest.model.name,
    version: b.manifest.model.version,
    sha256: b.manifest.files[MODEL_FILE].sha256,
  };
  for (const f of b.files.filter((x) => !x.ok)) {
    report.problems.push({
      code: BUNDLE_ERROR_CODES.hashMismatch,
      field: f.name,
      message: `${f.name}: expected sha256 ${f.expectedSha256} (${f.expectedSize} bytes), got ${f.actualSha256} (${f.actualSize} bytes)`,
    });
  }
  if (b.files.find((f) => f.name === MODEL_FILE)?.ok) {
    try {
      checkModel(b.tflite);
    } catch (e) {
      fail(e);
    }
  }
  try {
    report.signature = checkSignature(b.manifestBytes, b.signatureBytes ?? undefined, key);
  } catch (e) {
    fail(e);
  }
  const sig = report.signature;
  if (sig?.problem === 'unsigned') {
    report.problems.push({
      code: BUNDLE_ERROR_CODES.unsigned,
      field: SIGNATURE_FILE,
      message: 'the bundle is not signed (no signature.sig)',
    });
  } else if (sig?.problem === 'wrong-key') {
    report.problems.push({
      code: BUNDLE_ERROR_CODES.wrongKey,
      field: SIGNATURE_FILE,
      message: `signed by key ${sig.keyId?.slice(0, 16)}, not by the given key ${keyIdOf(key).slice(0, 16)}`,
    });
  } else if (sig?.problem === 'bad-signature') {
    report.problems.push({
      code: BUNDLE_ERROR_CODES.badSignature,
      field: MANIFEST_FILE,
      message: 'the Ed25519 signature does not match manifest.json (changed after signing)',
    });
  }
  report.ok = report.problems.length === 0;
  return report;
}

/**
 * Extracts a verified bundle into `dir`. Entry names were already restricted to safe relative
 * names; each target is still resolved and checked to lie inside `dir`, and files are created
 * exclusively (an existing file or symlink at a target is an error, never followed).
 * @example const written = await extractBundle('model.edmp', 'out/model');
 */
export async function extractBundle(src: BundleSource, dir: string): Promise<string[]> {
  const data = await readBundleBytes(src);
  const { entries } = await readBundle(data); // structure, schema and hashes first
  const root = resolve(dir);
  // Only into a new or empty folder: nothing pre-planted there (a symlinked golden/) can redirect writes.
  await mkdir(root, { recursive: true });
  if ((await readdir(root)).length > 0) {
    throw new ConfigError({ field: 'dir', expected: 'a new or empty directory', received: root });
  }
  const written: string[] = [];
  for (const [name, bytes] of entries) {
    const target = resolve(root, name);
    if (!target.startsWith(root + sep)) {
      throw new BundleError(BUNDLE_ERROR_CODES.unsafePath, {
        field: name,
        expected: `a path inside ${root}`,
        received: target,
      });
    }
    await mkdir(dirname(target), { recursive: true });
    const fh = await open(target, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
    } finally {
      await fh.close();
    }
    written.push(target);
  }
  return written;
}
