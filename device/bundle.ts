/**
 * Loading `.edmp` bundles on the device, and the golden-sample self-check a device runs at startup
 * (a wrong preprocessing spec, label order or corrupted model shows up here, not in the field).
 */
import sharp from 'sharp';
import {
  BUNDLE_ERROR_CODES,
  BundleError,
  MODEL_FILE,
  SIGNATURE_FILE,
  checkSignature,
  keyIdOf,
  loadPublicKey,
  readBundle,
  readBundleBytes,
  sha256Hex,
  type BundleLimits,
  type BundleManifest,
  type BundleSource,
  type GoldenEntry,
  type KeySource,
  type SignatureCheck,
} from '@edge-dmp/core';
import type { KeyObject } from 'node:crypto';
import { acceptVersion } from './version-floor.js';
import type { PreprocessSpec } from '@edge-dmp/core';
import type { ModelIdentity } from './types.js';

export interface LoadBundleOptions {
  /** Ed25519 public key (KeyObject, PEM or PEM path): when given, the bundle must be signed by it. */
  pubkey?: KeySource;
  /** More keys any of which may have signed the bundle (a device's trusted-keys file). */
  trustedKeys?: KeySource[];
  /**
   * Refuse a bundle without a valid signature by `pubkey` / `trustedKeys` even when no key is
   * given (the CLI sets it; the library default is to check only when a key is given).
   */
  requireSignature?: boolean;
  /** Accept a bundle without a valid signature by a trusted key anyway (`--allow-unsigned`). */
  allowUnsigned?: boolean;
  /**
   * Version floor file (device/version-floor.ts): a verified bundle's model.version must be at
   * least the highest accepted for its key and model name, and raises it.
   */
  versionFloor?: { path: string; allowDowngrade?: boolean };
  limits?: Partial<BundleLimits>;
}

/** A golden sample with its PNG bytes. */
export interface GoldenSample extends GoldenEntry {
  image: Uint8Array;
}

export interface LoadedBundle {
  /** The .tflite bytes (hash-checked). */
  modelBytes: Uint8Array;
  labels: string[];
  preprocessing: PreprocessSpec;
  identity: ModelIdentity;
  golden: GoldenSample[];
  manifest: BundleManifest;
  signed: boolean;
  /** Key id of the signature, when the bundle is signed. */
  keyId: string | null;
  /** True when the signature verified with `pubkey` or one of `trustedKeys`. */
  signatureVerified: boolean;
  /** Why a bundle was accepted without a verified signature (`allowUnsigned`), else null. */
  unverifiedReason: string | null;
  /** The version floor before this bundle, when a floor file was given and the bundle verified. */
  previousVersion?: string | null;
}

const PROBLEM_CODES = {
  unsigned: BUNDLE_ERROR_CODES.unsigned,
  'wrong-key': BUNDLE_ERROR_CODES.wrongKey,
  'bad-signature': BUNDLE_ERROR_CODES.badSignature,
} as const;

/**
 * The signature check run before anything but manifest.json and signature.sig is inflated: the key
 * that verified, or (allowUnsigned) the reason it did not, or a BundleError.
 */
function checkTrust(
  manifestBytes: Uint8Array,
  sigBytes: Uint8Array | undefined,
  keys: KeyObject[],
  opts: LoadBundleOptions,
): { keyId: string | null; reason: string | null } {
  let last: SignatureCheck = sigBytes
    ? { signed: true, keyId: null, valid: false, problem: 'wrong-key' }
    : { signed: false, keyId: null, valid: false, problem: 'unsigned' };
  for (const key of sigBytes ? keys : []) {
    last = checkSignature(manifestBytes, sigBytes, key);
    if (last.valid) return { keyId: keyIdOf(key), reason: null };
  }
  const trusted = keys.map((k) => keyIdOf(k).slice(0, 16)).join(', ') || 'none configured';
  const signer = last.keyId ? `signed by key id ${last.keyId.slice(0, 16)}` : 'signed';
  const received =
    last.problem === 'unsigned' ? 'no signature' : `${last.problem} (${signer}; trusted: ${trusted})`;
  if (opts.allowUnsigned) return { keyId: null, reason: received };
  throw new BundleError(
    PROBLEM_CODES[last.problem ?? 'bad-signature'],
    { field: SIGNATURE_FILE, expected: 'an Ed25519 signature of manifest.json by a trusted key', received },
    `${SIGNATURE_FILE}: expected an Ed25519 signature of manifest.json by a trusted key (${trusted}), got ${received}; ` +
      'add the key with --pubkey / --trusted-keys, or run an unverified bundle with --allow-unsigned',
  );
}

/**
 * Loads a bundle for the classifier: checks the container, manifest and every file hash, and, with
 * `pubkey` / `trustedKeys` / `requireSignature`, that the manifest is signed by a trusted key
 * (unsigned, wrong key or bad signature throw BundleError with code E_BUNDLE_UNSIGNED /
 * E_BUNDLE_WRONG_KEY / E_BUNDLE_BAD_SIGNATURE unless `allowUnsigned`), checked before the model is
 * inflated; with `versionFloor`, a verified bundle older than the floor throws E_BUNDLE_DOWNGRADE.
 *
 * @example
 * const b = await loadBundle('model.edmp', { pubkey: '/etc/edge-dmp/edmp.pub' });
 * const c = await createClassifier({ bundle: 'model.edmp' });
 * console.log(b.identity.name, b.labels.length, b.golden.length);
 */
export async function loadBundle(src: BundleSource, opts: LoadBundleOptions = {}): Promise<LoadedBundle> {
  // Parse the keys before touching the bundle, so a bad key is a ConfigError, not a bundle error.
  const keys: KeyObject[] = [];
  if (opts.pubkey !== undefined) keys.push(await loadPublicKey(opts.pubkey));
  for (const k of opts.trustedKeys ?? []) keys.push(await loadPublicKey(k, 'trustedKeys'));
  const check = keys.length > 0 || opts.requireSignature === true;
  let trust: { keyId: string | null; reason: string | null } = { keyId: null, reason: null };
  const data = await readBundleBytes(src, opts.limits);
  const b = await readBundle(data, {
    limits: opts.limits,
    // Before the model is inflated: nothing an untrusted signer packed is ever decompressed.
    authorize: (manifestBytes, sigBytes, manifest) => {
      if (!check) return;
      trust = checkTrust(manifestBytes, sigBytes, keys, opts);
      if (trust.keyId && opts.versionFloor) {
        const key = `${trust.keyId}:${manifest.model.name}`;
        acceptVersion(opts.versionFloor.path, key, manifest.model.version, {
          allowDowngrade: opts.versionFloor.allowDowngrade,
          dryRun: true,
        });
      }
    },
  });
  const m = b.manifest;
  let previousVersion: string | null | undefined;
  if (trust.keyId && opts.versionFloor) {
    // Raised only once the whole bundle checked out.
    previousVersion = acceptVersion(
      opts.versionFloor.path,
      `${trust.keyId}:${m.model.name}`,
      m.model.version,
      {
        allowDowngrade: opts.versionFloor.allowDowngrade,
      },
    ).previous;
  }
  return {
    modelBytes: b.tflite,
    labels: b.labels,
    preprocessing: m.input.preprocess,
    identity: { name: m.model.name, version: m.model.version, sha256: m.files[MODEL_FILE].sha256 },
    golden: m.golden.map((g) => ({ ...g, image: b.goldenImages.get(g.file)! })),
    manifest: m,
    signed: b.signed,
    keyId: trust.keyId ?? b.signature?.keyId ?? null,
    signatureVerified: trust.keyId !== null,
    unverifiedReason: check ? trust.reason : null,
    ...(previousVersion !== undefined ? { previousVersion } : {}),
  };
}

/** What checkGolden needs of a classifier (device/classifier.ts's Classifier fits). */
export interface GoldenClassifier {
  classify(frame: {
    data: Uint8Array;
    width: number;
    height: number;
    format: 'rgb' | 'gray';
  }): Promise<{ label: string; score: number }>;
}

export interface GoldenResult {
  file: string;
  ok: boolean;
  expected: { label: string; index: number; score?: number };
  got: { label: string; score: number } | null;
  /** Set when the sample itself is bad (decode or input hash), so the model could not be judged. */
  problem?: string;
}

export interface GoldenReport {
  ok: boolean;
  total: number;
  passed: number;
  results: GoldenResult[];
}

async function goldenPixels(g: GoldenSample): Promise<Uint8Array> {
  let img = sharp(g.image);
  // Pin the channel count so the hash is over exactly the pixels the converter hashed.
  img =
    g.channels === 1 ? img.toColourspace('b-w').extractChannel(0) : img.removeAlpha().toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== g.width || info.height !== g.height || info.channels !== g.channels) {
    throw new Error(
      `decoded ${info.width}x${info.height}x${info.channels}, manifest says ${g.width}x${g.height}x${g.channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Runs the bundle's golden samples through a classifier and compares top-1 with what the converter
 * recorded. A device calls it once at startup, before reporting anything; with `throwOnFailure`
 * a failing check throws BundleError E_BUNDLE_GOLDEN naming the first failing sample.
 *
 * @example
 * const b = await loadBundle('model.edmp');
 * const c = await createClassifier({ bundle: 'model.edmp' });
 * const report = await checkGolden(c, b.golden);
 * if (!report.ok) process.exit(1);
 */
export async function checkGolden(
  classifier: GoldenClassifier,
  golden: GoldenSample[] | LoadedBundle,
  opts: { throwOnFailure?: boolean } = {},
): Promise<GoldenReport> {
  const samples = Array.isArray(golden) ? golden : golden.golden;
  const results: GoldenResult[] = [];
  for (const g of samples) {
    const expected = { label: g.label, index: g.index, ...(g.score !== undefined ? { score: g.score } : {}) };
    let pixels: Uint8Array;
    try {
      pixels = await goldenPixels(g);
    } catch (e) {
      results.push({
        file: g.file,
        ok: false,
        expected,
        got: null,
        problem: `cannot decode: ${(e as Error).message}`,
      });
      continue;
    }
    if (sha256Hex(pixels) !== g.inputSha256) {
      results.push({
        file: g.file,
        ok: false,
        expected,
        got: null,
        problem: 'decoded pixels do not match inputSha256',
      });
      continue;
    }
    const r = await classifier.classify({
      data: pixels,
      width: g.width,
      height: g.height,
      format: g.channels === 1 ? 'gray' : 'rgb',
    });
    results.push({
      file: g.file,
      ok: r.label === g.label,
      expected,
      got: { label: r.label, score: r.score },
    });
  }
  const passed = results.filter((r) => r.ok).length;
  const report = { ok: passed === results.length, total: results.length, passed, results };
  const first = results.find((r) => !r.ok);
  if (first && opts.throwOnFailure) {
    throw new BundleError(BUNDLE_ERROR_CODES.golden, {
      field: first.file,
      expected: `top-1 ${JSON.stringify(first.expected.label)}`,
      received: first.problem ?? first.got?.label,
    });
  }
  return report;
}
