/**
 * The `.edmp` bundle format: manifest types, the typed bundle errors, and the defensive reader of
 * the zip container. Shared by the converter (writes bundles) and the device (loads them), so it
 * imports nothing heavy: fflate for the container, node:crypto for hashes and Ed25519.
 *
 * Layout of a bundle (a zip archive, entries deflated):
 *   manifest.json   the manifest below (UTF-8 JSON); its exact bytes are what gets signed
 *   signature.sig   optional; JSON {algorithm: "Ed25519", keyId, signature (base64)}
 *   model.tflite    the model
 *   labels.txt      one label per line, output index order
 *   golden/NNN.png  golden inputs for on-device self-checks
 */
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto';
import { EdgeDmpError, type ErrorDetail } from '../errors.js';
import type { PreprocessSpec } from '../preprocess.js';

// The container reader lives in zip.ts; re-exported so format.ts stays the one import for bundles.
export { openArchive, readArchive, unsafeNameReason, type Archive } from './zip.js';
import { unsafeNameReason } from './zip.js';

/** The manifest schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'signature.sig';
export const MODEL_FILE = 'model.tflite';
export const LABELS_FILE = 'labels.txt';

/** Machine-readable codes of {@link BundleError}. */
export const BUNDLE_ERROR_CODES = {
  format: 'E_BUNDLE_FORMAT',
  unsafePath: 'E_BUNDLE_UNSAFE_PATH',
  tooLarge: 'E_BUNDLE_TOO_LARGE',
  duplicate: 'E_BUNDLE_DUPLICATE',
  missingFile: 'E_BUNDLE_MISSING_FILE',
  unexpectedEntry: 'E_BUNDLE_UNEXPECTED_ENTRY',
  badJson: 'E_BUNDLE_BAD_JSON',
  schema: 'E_BUNDLE_SCHEMA',
  hashMismatch: 'E_BUNDLE_HASH_MISMATCH',
  unsigned: 'E_BUNDLE_UNSIGNED',
  badSignature: 'E_BUNDLE_BAD_SIGNATURE',
  wrongKey: 'E_BUNDLE_WRONG_KEY',
  golden: 'E_BUNDLE_GOLDEN',
  model: 'E_BUNDLE_MODEL',
} as const;
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[keyof typeof BUNDLE_ERROR_CODES];

/** A bundle that is malformed, hostile, tampered with or badly signed; `code` says which. */
export class BundleError extends EdgeDmpError {
  declare readonly code: BundleErrorCode;
  constructor(code: BundleErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}

/** Caps applied while reading, before anything is allocated for an entry. */
export interface BundleLimits {
  /** Size of the .edmp file itself. */
  maxArchiveBytes: number;
  maxEntries: number;
  /** Uncompressed size of any one entry (declared and actual). */
  maxEntryBytes: number;
  /** Sum of the uncompressed sizes of all entries. */
  maxTotalBytes: number;
  /** Uncompressed size of manifest.json and signature.sig. */
  maxManifestBytes: number;
  maxNameLength: number;
}

export const DEFAULT_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxArchiveBytes: 512 * 2 ** 20,
  maxEntries: 64,
  maxEntryBytes: 256 * 2 ** 20,
  maxTotalBytes: 512 * 2 ** 20,
  maxManifestBytes: 2 ** 20,
  maxNameLength: 200,
});

export type QuantizationMode = 'fp32' | 'fp16' | 'dynamic' | 'int8';
export type TensorDtype = 'float32' | 'int8' | 'uint8';

export interface FileEntry {
  /** SHA-256 of the entry's bytes, lowercase hex. */
  sha256: string;
  size: number;
}

/** A golden sample: an input image stored in the bundle and the top-1 the model must give for it. */
export interface GoldenEntry {
  /** Entry name of the PNG, e.g. `golden/000.png` (also listed in `files`). */
  file: string;
  width: number;
  height: number;
  channels: 1 | 3;
  /** SHA-256 of the raw HWC uint8 pixels (RGB or gray): the "input hash", independent of the PNG encoder. */
  inputSha256: string;
  /** Expected top-1 label and its output index. */
  label: string;
  index: number;
  /** Expected top-1 score, when the converter recorded it (informative). */
  score?: number;
}

export interface BundleManifest {
  schemaVersion: typeof SCHEMA_VERSION;
  format: 'edmp';
  model: { name: string; version: string; variant: string; architecture: string; numClasses: number };
  input: {
    /** [1, H, W, C], or [1, H, W] for a gray model without a channel axis. */
    shape: number[];
    layout: 'NHWC';
    dtype: TensorDtype;
    /** For int8/uint8 inputs: real = scale * (q - zeroPoint). */
    quantization?: { scale: number; zeroPoint: number };
    preprocess: PreprocessSpec;
  };
  output: { shape: number[]; dtype: TensorDtype; quantization?: { scale: number; zeroPoint: number } };
  /** `mode` plus whatever the converter records (calibration samples, per-channel...). */
  quantization: { mode: QuantizationMode; [k: string]: unknown };
  stats: { params: number | null; macs: number | null; tfliteBytes: number };
  /** The converter's report card, stored as given. */
  reportCard: Record<string, unknown> | null;
  provenance: {
    createdAt: string;
    trainingRun: string | null;
    dataset: string | null;
    tool: string;
    [k: string]: unknown;
  };
  files: Record<string, FileEntry>;
  golden: GoldenEntry[];
}

/** Contents of `signature.sig`. */
export interface SignatureFile {
  algorithm: 'Ed25519';
  /** SHA-256 (hex) of the signer's public key in SPKI DER form. */
  keyId: string;
  /** Base64 Ed25519 signature over the exact bytes of manifest.json. */
  signature: string;
}

/** SHA-256 hex of bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The key id of a public key: SHA-256 hex of its SPKI DER bytes. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return sha256Hex(pub.export({ type: 'spki', format: 'der' }));
}

// ---------------------------------------------------------------------------------------------
// Container

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function schemaError(field: string, expected: string, received: unknown): BundleError {
  return new BundleError(BUNDLE_ERROR_CODES.schema, { field: `manifest.${field}`, expected, received });
}

const DTYPES: TensorDtype[] = ['float32', 'int8', 'uint8'];

/** Field checks as a table: path -> predicate + words for the error. */
const CHECKS: Array<[string, (v: unknown) => boolean, string]> = [
  ['format', (v) => v === 'edmp', '"edmp"'],
  ['model', isObj, 'an object'],
  ['model.name', (v) => typeof v === 'string' && v.length > 0, 'a non-empty string'],
  ['model.version', (v) => typeof v === 'string' && v.length > 0, 'a non-empty string'],
  ['model.variant', (v) => typeof v === 'string', 'a string'],
  ['model.architecture', (v) => typeof v === 'string', 'a string'],
  ['model.numClasses', (v) => Number.isInteger(v) && (v as number) > 0, 'a positive integer'],
  ['input', isObj, 'an object'],
  [
    'input.shape',
    (v) => isIntArray(v, 4) || isIntArray(v, 3),
    '[1,H,W,C] (or [1,H,W] for gray) of positive integers',
  ],
  ['input.layout', (v) => v === 'NHWC', '"NHWC"'],
  ['input.dtype', (v) => DTYPES.includes(v as TensorDtype), DTYPES.join(' | ')],
  ['input.preprocess', isObj, 'a PreprocessSpec object'],
  ['input.preprocess.inputSize', (v) => isIntArray(v, 2), 'an array [H, W] of positive integers'],
  ['input.preprocess.channels', (v) => v === 1 || v === 3, '1 or 3'],
  ['input.preprocess.scale', (v) => Number.isFinite(v), 'a finite number'],
  ['input.preprocess.mean', isNumArray, 'an array of finite numbers'],
  ['input.preprocess.std', (v) => isNumArray(v) && v.every((x) => x !== 0), 'an array of non-zero numbers'],
  [
    'input.preprocess.resize',
    (v) => ['stretch', 'center-crop', 'letterbox'].includes(v as string),
    'a resize mode',
  ],
  ['input.preprocess.layout', (v) => v === 'NHWC', '"NHWC"'],
  ['input.preprocess.channelOrder', (v) => v === 'rgb' || v === 'bgr', '"rgb" | "bgr"'],
  ['output', isObj, 'an object'],
  ['output.shape', (v) => Array.isArray(v) && v.length >= 1 && isIntArray(v, v.length), 'positive integers'],
  ['output.dtype', (v) => DTYPES.includes(v as TensorDtype), DTYPES.join(' | ')],
  ['quantization', isObj, 'an object'],
  [
    'quantization.mode',
    (v) => ['fp32', 'fp16', 'dynamic', 'int8'].includes(v as string),
    'fp32|fp16|dynamic|int8',
  ],
  ['stats', isObj, 'an object'],
  ['stats.params', (v) => v === null || Number.isInteger(v), 'an integer or null'],
  ['stats.macs', (v) => v === null || Number.isInteger(v), 'an integer or null'],
  ['stats.tfliteBytes', (v) => Number.isInteger(v), 'an integer'],
  ['reportCard', (v) => v === null || isObj(v), 'an object or null'],
  ['provenance', isObj, 'an object'],
  [
    'provenance.createdAt',
    (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)),
    'an ISO date string',
  ],
  ['provenance.trainingRun', (v) => v === null || typeof v === 'string', 'a string or null'],
  ['provenance.dataset', (v) => v === null || typeof v === 'string', 'a string or null'],
  ['provenance.tool', (v) => typeof v === 'string', 'a string'],
  ['files', isObj, 'an object of name -> {sha256, size}'],
  ['golden', Array.isArray, 'an array'],
];
const HEX64 = /^[0-9a-f]{64}$/;

function isIntArray(v: unknown, n: number): v is number[] {
  return Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x > 0);
}
function isNumArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isFinite(x));
}
function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), obj);
}

/**
 * Parses and validates manifest bytes: JSON, schema version, field types, internal consistency
 * (shape vs preprocess spec, files listed, golden entries). Throws BundleError naming the field.
 *
 * @example const manifest = parseManifest(entries.get('manifest.json')!);
 */
export function parseManifest(bytes: Uint8Array): BundleManifest {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new BundleError(BUNDLE_ERROR_CODES.badJson, {
      field: MANIFEST_FILE,
      expected: 'valid UTF-8 JSON',
      received: (e as Error).message,
    });
  }
  if (!isObj(m)) throw schemaError('', 'a JSON object', Array.isArray(m) ? 'an array' : typeof m);
  if (m.schemaVersion !== SCHEMA_VERSION) {
    throw schemaError(
      'schemaVersion',
      `${SCHEMA_VERSION} (this edge-dmp reads version ${SCHEMA_VERSION})`,
      m.schemaVersion,
    );
  }
  for (const [path, ok, expected] of CHECKS) {
    const v = at(m, path);
    if (!ok(v)) throw schemaError(path, expected, v);
  }
  const man = m as unknown as BundleManifest;
  const pre = man.input.preprocess;
  // [1,H,W] is a gray model without the channel axis (e.g. MNIST-style models).
  const [n, h, w, c = 1] = man.input.shape;
  if (n !== 1 || h !== pre.inputSize[0] || w !== pre.inputSize[1] || c !== pre.channels) {
    throw schemaError(
      'input.shape',
      `[1, ${pre.inputSize[0]}, ${pre.inputSize[1]}, ${pre.channels}] (from input.preprocess)`,
      man.input.shape,
    );
  }
  if (pre.mean.length !== pre.channels || pre.std.length !== pre.channels) {
    throw schemaError('input.preprocess.mean', `${pre.channels} values for mean and std`, {
      mean: pre.mean,
      std: pre.std,
    });
  }
  if (man.output.shape[man.output.shape.length - 1] !== man.model.numClasses) {
    throw schemaError(
      'output.shape',
      `last dimension ${man.model.numClasses} (model.numClasses)`,
      man.output.shape,
    );
  }
  for (const [name, f] of Object.entries(man.files)) {
    if (name === MANIFEST_FILE || name === SIGNATURE_FILE || unsafeNameReason(name)) {
      throw schemaError(`files`, 'safe entry names other than manifest.json / signature.sig', name);
    }
    if (!isObj(f) || typeof f.sha256 !== 'string' || !HEX64.test(f.sha256) || !Number.isInteger(f.size)) {
      throw schemaError(`files.${name}`, '{sha256: 64 lowercase hex, size: integer}', f);
    }
  }
  for (const req of [MODEL_FILE, LABELS_FILE]) {
    if (!man.files[req]) throw schemaError(`files`, `an entry for ${req}`, Object.keys(man.files));
  }
  man.golden.forEach((g, i) => {
    const ok =
      isObj(g) &&
      typeof g.file === 'string' &&
      man.files[g.file] !== undefined &&
      Number.isInteger(g.width) &&
      Number.isInteger(g.height) &&
      (g.channels === 1 || g.channels === 3) &&
      typeof g.inputSha256 === 'string' &&
      HEX64.test(g.inputSha256) &&
      typeof g.label === 'string' &&
      Number.isInteger(g.index) &&
      g.index >= 0 &&
      g.index < man.model.numClasses;
    if (!ok) {
      throw schemaError(
        `golden[${i}]`,
        '{file (listed in files), width, height, channels, inputSha256, label, index}',
        g,
      );
    }
  });
  return man;
}

/** Splits labels.txt into labels (one per line; a final newline is optional; CRLF accepted). */
export function parseLabels(bytes: Uint8Array): string[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BundleError(BUNDLE_ERROR_CODES.format, {
      field: LABELS_FILE,
      expected: 'UTF-8 text',
      received: 'invalid UTF-8',
    });
  }
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Parses signature.sig. */
export function parseSignature(bytes: Uint8Array): SignatureFile {
  let s: unknown;
  try {
    s = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new BundleError(BUNDLE_ERROR_CODES.badJson, {
      field: SIGNATURE_FILE,
      expected: 'valid JSON',
      received: (e as Error).message,
    });
  }
  if (
    !isObj(s) ||
    s.algorithm !== 'Ed25519' ||
    typeof s.keyId !== 'string' ||
    typeof s.signature !== 'string'
  ) {
    throw new BundleError(BUNDLE_ERROR_CODES.badSignature, {
      field: SIGNATURE_FILE,
      expected: '{algorithm: "Ed25519", keyId, signature}',
      received: s,
    });
  }
  return s as unknown as SignatureFile;
}

/** One integrity check of a file against the manifest. */
export interface FileCheck {
  name: string;
  ok: boolean;
  /** Why it failed: missing, size or hash. */
  problem?: 'missing' | 'size' | 'sha256';
  expectedSha256: string;
  actualSha256: string | null;
  expectedSize: number;
  actualSize: number | null;
}

/** Checks every file the manifest lists against the archive entries. */
export function checkFiles(manifest: BundleManifest, entries: Map<string, Uint8Array>): FileCheck[] {
  return Object.entries(manifest.files).map(([name, want]) => {
    const bytes = entries.get(name);
    const base = { name, expectedSha256: want.sha256, expectedSize: want.size };
    if (!bytes) return { ...base, ok: false, problem: 'missing', actualSha256: null, actualSize: null };
    const actualSha256 = sha256Hex(bytes);
    const problem = bytes.length !== want.size ? 'size' : actualSha256 !== want.sha256 ? 'sha256' : undefined;
    return { ...base, ok: !problem, ...(problem ? { problem } : {}), actualSha256, actualSize: bytes.length };
  });
}

/** Entries neither listed in the manifest nor manifest.json / signature.sig. */
export function unexpectedEntries(manifest: BundleManifest, entries: Map<string, Uint8Array>): string[] {
  return [...entries.keys()].filter((n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE && !manifest.files[n]);
}

/** Result of checking a signature against a public key. */
export interface SignatureCheck {
  signed: boolean;
  keyId: string | null;
  /** The signature verifies with the given key over the manifest bytes. */
  valid: boolean;
  problem?: 'unsigned' | 'wrong-key' | 'bad-signature';
}

/** Verifies signature.sig (if any) over the manifest bytes with a public key. */
export function checkSignature(
  manifestBytes: Uint8Array,
  sigBytes: Uint8Array | undefined,
  publicKey: KeyObject,
): SignatureCheck {
  if (!sigBytes) return { signed: false, keyId: null, valid: false, problem: 'unsigned' };
  const sig = parseSignature(sigBytes);
  const valid = edVerify(null, manifestBytes, publicKey, Buffer.from(sig.signature, 'base64'));
  if (valid) return { signed: true, keyId: sig.keyId, valid };
  // The key id tells "signed by someone else" apart from "bytes changed after signing".
  const problem = sig.keyId !== keyIdOf(publicKey) ? 'wrong-key' : 'bad-signature';
  return { signed: true, keyId: sig.keyId, valid, problem };
}
