/**
 * Writing, reading, signing and verifying `.edmp` bundles (format: ./bundle-format.ts, docs/bundle.md).
 * The converter calls {@link writeBundle}; `edge-dmp keygen|inspect|verify` call the rest.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as edSign,
  type KeyObject,
} from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { ConfigError, EdgeDmpError } from '../sdk/errors.js';
import { readTflite } from './tflite/reader.js';
import type { PreprocessSpec } from '../sdk/preprocess.js';
import {
  BUNDLE_ERROR_CODES,
  BundleError,
  DEFAULT_LIMITS,
  LABELS_FILE,
  MANIFEST_FILE,
  MODEL_FILE,
  SCHEMA_VERSION,
  SIGNATURE_FILE,
  checkFiles,
  checkSignature,
  keyIdOf,
  parseLabels,
  parseManifest,
  parseSignature,
  openArchive,
  sha256Hex,
  type BundleLimits,
  type BundleManifest,
  type FileCheck,
  type GoldenEntry,
  type QuantizationMode,
  type SignatureCheck,
  type SignatureFile,
  type TensorDtype,
} from './bundle-format.js';

export * from './bundle-format.js';

const TOOL = 'edge-dmp 0.1.0';
/**
 * Fixed zip timestamps so the same inputs give byte-identical bundles (Ed25519 is deterministic
 * too). Local-time components, because zip stores local time: any time zone writes the same bytes.
 */
const ZIP_MTIME = new Date(2020, 0, 1);

/** Raw pixels of one golden input: HWC uint8, RGB (3 channels) or gray (1). */
export interface GoldenPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** A golden sample as the converter hands it over: pixels plus the top-1 the `.tflite` gives for them. */
export interface GoldenInput {
  pixels: GoldenPixels;
  label: string;
  /** Output index of `label`; looked up in the labels when omitted. */
  index?: number;
  score?: number;
}

/** Everything a bundle holds, in the converter's terms. */
export interface BundleContents {
  tflite: Uint8Array;
  labels: string[];
  model: { name: string; version?: string; variant: string; architecture: string };
  preprocess: PreprocessSpec;
  /** The model's input shape when it is not [1,H,W,C] from `preprocess` (gray models may be [1,H,W]). */
  inputShape?: number[];
  /** Model input tensor type; float32 unless the converter made an int8/uint8-input model. */
  inputDtype?: TensorDtype;
  inputQuantization?: { scale: number; zeroPoint: number };
  outputDtype?: TensorDtype;
  outputQuantization?: { scale: number; zeroPoint: number };
  /** A mode, or the mode plus details to record (calibration set, sample count...). */
  quantization: QuantizationMode | { mode: QuantizationMode; [k: string]: unknown };
  params?: number | null;
  macs?: number | null;
  /** The converter's report card, stored verbatim (must be JSON-serialisable). */
  reportCard?: Record<string, unknown> | null;
  provenance?: {
    trainingRun?: string | null;
    dataset?: string | null;
    createdAt?: string;
    [k: string]: unknown;
  };
  golden?: GoldenInput[];
}

/** A private key: a KeyObject, PEM text, or the path of a PEM file. */
export type KeySource = KeyObject | string;

export interface WriteOptions {
  /** Ed25519 private key; without it the bundle is unsigned. */
  signKey?: KeySource;
}

export interface BuiltBundle {
  bytes: Uint8Array;
  manifest: BundleManifest;
  /** SHA-256 of the whole .edmp. */
  sha256: string;
  signed: boolean;
  keyId: string | null;
}

async function keyText(src: string, field: string): Promise<string> {
  if (src.includes('-----BEGIN')) return src;
  try {
    return await readFile(src, 'utf8');
  } catch (e) {
    throw new ConfigError(
      { field, expected: 'a readable PEM key file', received: src },
      `${field}: cannot read ${src}: ${(e as Error).message}`,
    );
  }
}

/**
 * Loads an Ed25519 private key (KeyObject, PEM text or PEM file path).
 * @example const key = await loadPrivateKey('keys/edmp.key');
 */
export async function loadPrivateKey(src: KeySource, field = 'signKey'): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = typeof src === 'string' ? createPrivateKey(await keyText(src, field)) : src;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError({
      field,
      expected: 'an Ed25519 private key in PEM',
      received: (e as Error).message,
    });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError({
      field,
      expected: 'an Ed25519 private key',
      received: `${key.type} ${key.asymmetricKeyType}`,
    });
  }
  return key;
}

/**
 * Loads an Ed25519 public key (KeyObject, PEM text or PEM file path); a private key yields its public half.
 * @example const pub = await loadPublicKey('keys/edmp.pub');
 */
export async function loadPublicKey(src: KeySource, field = 'pubkey'): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = typeof src === 'string' ? createPublicKey(await keyText(src, field)) : src;
    if (key.type === 'private') key = createPublicKey(key);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError({
      field,
      expected: 'an Ed25519 public key in PEM',
      received: (e as Error).message,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError({ field, expected: 'an Ed25519 public key', received: key.asymmetricKeyType });
  }
  return key;
}

/**
 * Writes a new Ed25519 key pair as PEM: `<dir>/edmp.key` (PKCS#8, mode 0600) and `<dir>/edmp.pub`
 * (SPKI). Refuses to overwrite existing files unless `force`.
 * @example const { privateKeyPath, publicKeyPath, keyId } = await generateKeyPair('keys');
 */
export async function generateKeyPair(
  dir: string,
  opts: { force?: boolean } = {},
): Promise<{ privateKeyPath: string; publicKeyPath: string; keyId: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(dir, { recursive: true });
  const privateKeyPath = join(dir, 'edmp.key');
  const publicKeyPath = join(dir, 'edmp.pub');
  const flag = opts.force ? 'w' : 'wx';
  try {
    await writeFile(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
      flag,
    });
    await writeFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConfigError({
        field: '--out',
        expected: 'a directory without edmp.key / edmp.pub (or --force)',
        received: dir,
      });
    }
    throw e;
  }
  return { privateKeyPath, publicKeyPath, keyId: keyIdOf(publicKey) };
}

function checkContents(c: BundleContents): void {
  const field = (f: string) => `bundle.${f}`;
  if (!(c.tflite instanceof Uint8Array) || c.tflite.length === 0) {
    throw new ConfigError({
      field: field('tflite'),
      expected: 'non-empty model bytes',
      received: c.tflite?.length,
    });
  }
  if (
    !Array.isArray(c.labels) ||
    c.labels.length === 0 ||
    c.labels.some((l) => typeof l !== 'string' || /[\r\n]/.test(l))
  ) {
    throw new ConfigError({
      field: field('labels'),
      expected: 'a non-empty array of one-line strings',
      received: c.labels,
    });
  }
  if (new Set(c.labels).size !== c.labels.length) {
    throw new ConfigError({ field: field('labels'), expected: 'distinct labels', received: c.labels });
  }
  for (const k of ['name', 'variant', 'architecture'] as const) {
    if (typeof c.model?.[k] !== 'string' || (k === 'name' && !c.model.name)) {
      throw new ConfigError({ field: field(`model.${k}`), expected: 'a string', received: c.model?.[k] });
    }
  }
}

async function encodeGolden(
  g: GoldenInput,
  i: number,
  labels: string[],
): Promise<{ png: Uint8Array; entry: GoldenEntry }> {
  const { data, width, height, channels } = g.pixels ?? {};
  const field = `bundle.golden[${i}]`;
  if (
    !(data instanceof Uint8Array) ||
    data.length !== width * height * channels ||
    (channels !== 1 && channels !== 3)
  ) {
    throw new ConfigError({
      field: `${field}.pixels`,
      expected: 'HWC uint8 data of width*height*channels bytes, channels 1 or 3',
      received: { bytes: data?.length, width, height, channels },
    });
  }
  const index = g.index ?? labels.indexOf(g.label);
  if (labels[index] !== g.label) {
    throw new ConfigError({
      field: `${field}.label`,
      expected: `a label at index ${index} of labels`,
      received: g.label,
    });
  }
  // sharp is loaded only when golden samples are written (the device reads PNGs with it anyway).
  const { default: sharp } = await import('sharp');
  const png = await sharp(data, { raw: { width, height, channels } }).png({ compressionLevel: 9 }).toBuffer();
  const file = `golden/${String(i).padStart(3, '0')}.png`;
  const entry: GoldenEntry = {
    file,
    width,
    height,
    channels,
    inputSha256: sha256Hex(data),
    label: g.label,
    index,
  };
  if (g.score !== undefined) entry.score = g.score;
  return { png: new Uint8Array(png), entry };
}

/**
 * Builds a bundle in memory: manifest (hashes of every file), optional Ed25519 signature over the
 * manifest bytes, zip container.
 *
 * @example
 * const { bytes, manifest } = await buildBundle({
 *   tflite, labels: ['cat', 'dog'], model: { name: 'pets', variant: 'dmp', architecture: 'efficientnet-b0' },
 *   preprocess: defaultPreprocess([224, 224], 3), quantization: 'int8',
 * }, { signKey: 'keys/edmp.key' });
 */
export async function buildBundle(contents: BundleContents, opts: WriteOptions = {}): Promise<BuiltBundle> {
  checkContents(contents);
  const key = opts.signKey === undefined ? undefined : await loadPrivateKey(opts.signKey);
  const labelsBytes = new TextEncoder().encode(contents.labels.join('\n') + '\n');
  const golden = await Promise.all(
    (contents.golden ?? []).map((g, i) => encodeGolden(g, i, contents.labels)),
  );
  const payload: Record<string, Uint8Array> = { [MODEL_FILE]: contents.tflite, [LABELS_FILE]: labelsBytes };
  for (const g of golden) payload[g.entry.file] = g.png;
  const files = Object.fromEntries(
    Object.entries(payload).map(([name, bytes]) => [name, { sha256: sha256Hex(bytes), size: bytes.length }]),
  );
  const pre = contents.preprocess;
  const q =
    typeof contents.quantization === 'string' ? { mode: contents.quantization } : contents.quantization;
  const prov = contents.provenance ?? {};
  const manifest: BundleManifest = {
    schemaVersion: SCHEMA_VERSION,
    format: 'edmp',
    model: {
      name: contents.model.name,
      version: contents.model.version ?? '1.0.0',
      variant: contents.model.variant,
      architecture: contents.model.architecture,
      numClasses: contents.labels.length,
    },
    input: {
      shape: contents.inputShape ?? [1, pre.inputSize[0], pre.inputSize[1], pre.channels],
      layout: 'NHWC',
      dtype: contents.inputDtype ?? 'float32',
      ...(contents.inputQuantization ? { quantization: contents.inputQuantization } : {}),
      preprocess: pre,
    },
    output: {
      shape: [1, contents.labels.length],
      dtype: contents.outputDtype ?? 'float32',
      ...(contents.outputQuantization ? { quantization: contents.outputQuantization } : {}),
    },
    quantization: q,
    stats: {
      params: contents.params ?? null,
      macs: contents.macs ?? null,
      tfliteBytes: contents.tflite.length,
    },
    reportCard: contents.reportCard ?? null,
    provenance: {
      ...prov,
      createdAt: prov.createdAt ?? new Date().toISOString(),
      trainingRun: prov.trainingRun ?? null,
      dataset: prov.dataset ?? null,
      tool: TOOL,
    },
    files,
    golden: golden.map((g) => g.entry),
  };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n');
  // Validate what we wrote with the same reader the device uses, so a bad spec fails here, not there.
  parseManifest(manifestBytes);
  const zip: Zippable = { [MANIFEST_FILE]: manifestBytes };
  let keyId: string | null = null;
  if (key) {
    keyId = keyIdOf(key);
    const sig: SignatureFile = {
      algorithm: 'Ed25519',
      keyId,
      signature: edSign(null, manifestBytes, key).toString('base64'),
    };
    zip[SIGNATURE_FILE] = new TextEncoder().encode(JSON.stringify(sig) + '\n');
  }
  Object.assign(zip, payload);
  const bytes = zipSync(zip, { level: 6, mtime: ZIP_MTIME });
  return { bytes, manifest, sha256: sha256Hex(bytes), signed: key !== undefined, keyId };
}

/**
 * Builds a bundle and writes it to `path` (parent folders created).
 * @example await writeBundle('model.edmp', contents, { signKey: 'keys/edmp.key' });
 */
export async function writeBundle(
  path: string,
  contents: BundleContents,
  opts: WriteOptions = {},
): Promise<BuiltBundle> {
  const built = await buildBundle(contents, opts);
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, built.bytes);
  return built;
}

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
 * Signs (or re-signs) an existing bundle: same entries, new signature.sig. Refuses bundles whose
 * files do not match their manifest, so a signature never vouches for tampered contents.
 * @example await signBundle('model.edmp', 'keys/edmp.key', 'model.signed.edmp');
 */
export async function signBundle(
  src: BundleSource,
  signKey: KeySource,
  outPath: string,
): Promise<BuiltBundle> {
  const key = await loadPrivateKey(signKey);
  const data = await readBundleBytes(src);
  const b = await readBundle(data);
  const entries = b.entries;
  const keyId = keyIdOf(key);
  const sig: SignatureFile = {
    algorithm: 'Ed25519',
    keyId,
    signature: edSign(null, b.manifestBytes, key).toString('base64'),
  };
  const zip: Zippable = {
    [MANIFEST_FILE]: b.manifestBytes,
    [SIGNATURE_FILE]: new TextEncoder().encode(JSON.stringify(sig) + '\n'),
  };
  for (const name of Object.keys(b.manifest.files)) zip[name] = entries.get(name)!;
  const bytes = zipSync(zip, { level: 6, mtime: ZIP_MTIME });
  await mkdir(dirname(resolve(outPath)), { recursive: true });
  await writeFile(outPath, bytes);
  return { bytes, manifest: b.manifest, sha256: sha256Hex(bytes), signed: true, keyId };
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
