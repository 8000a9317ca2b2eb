/** Writing `.edmp` bundles (format: core/bundle/format.ts, docs/bundle.md). The converter calls {@link writeBundle}. */
import { sign as edSign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { loadPrivateKey } from './keys.js';
import { ConfigError, type KeySource, type PreprocessSpec } from '@edge-dmp/core';
import {
  LABELS_FILE,
  MANIFEST_FILE,
  MODEL_FILE,
  SCHEMA_VERSION,
  SIGNATURE_FILE,
  keyIdOf,
  parseManifest,
  sha256Hex,
  type BundleManifest,
  type GoldenEntry,
  type QuantizationMode,
  type SignatureFile,
  type TensorDtype,
} from '@edge-dmp/core';

const TOOL = 'edge-dmp 0.1.0';
/**
 * Fixed zip timestamps so the same inputs give byte-identical bundles (Ed25519 is deterministic
 * too). Local-time components, because zip stores local time: any time zone writes the same bytes.
 */
export const ZIP_MTIME = new Date(2020, 0, 1);

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
