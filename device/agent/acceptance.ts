/**
 * Acceptance of a bundle before anything of it is used: container and every file's SHA-256, the
 * signature (required unless `allowUnsigned`), what the model needs against what this board's
 * runtime offers, and the version floor. Each refusal is one AgentError whose code says why.
 */
import type { KeyObject } from 'node:crypto';
import {
  BUNDLE_ERROR_CODES,
  BundleError,
  checkSignature,
  keyIdOf,
  readBundle,
  sha256Hex,
  type BundleManifest,
  type TensorDtype,
} from '@edge-dmp/core';
import { EdgeDmpError } from '@edge-dmp/core';
import { validatePreprocess } from '../preprocess.js';
import { AGENT_ERROR_CODES, AgentError, type AgentErrorCode } from './errors.js';
import type { Floor } from './store.js';

/** What this board's runtime can run (from the profile). */
export interface BoardCapabilities {
  /** Model input types the runtime and classifier take. */
  inputDtypes: readonly TensorDtype[];
  /** Largest model.tflite, bytes (memory limit of the profile). */
  maxModelBytes: number;
  /** Largest input H*W the board can preprocess at its frame rate. */
  maxInputPixels: number;
}

export const DEFAULT_CAPABILITIES: BoardCapabilities = {
  inputDtypes: ['float32', 'int8', 'uint8'],
  maxModelBytes: 256 * 2 ** 20,
  maxInputPixels: 1024 * 1024,
};

export interface AcceptOptions {
  keys: KeyObject[];
  allowUnsigned: boolean;
  floor: Floor | null;
  board: BoardCapabilities;
  /** A version an allow-downgrade request permits below the floor. */
  allowDowngrade?: string;
}

export interface Accepted {
  manifest: BundleManifest;
  /** SHA-256 of the bundle file. */
  sha256: string;
  version: string;
  name: string;
  entries: Map<string, Uint8Array>;
  /** Key id that verified the signature; null for an unsigned bundle under allowUnsigned. */
  keyId: string | null;
}

/**
 * Compares dotted versions numerically part by part (`1.10.0` > `1.9.3`); a pre-release tag
 * (`1.2.0-rc1`) sorts before its release.
 * @example compareVersions('1.10.0', '1.9.3') // 1
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core, pre] = v.split('-', 2);
    return { parts: core.split('.').map((x) => (/^\d+$/.test(x) ? Number(x) : x)), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
    const p = x.parts[i] ?? 0;
    const q = y.parts[i] ?? 0;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return p < q ? -1 : 1;
    return String(p) < String(q) ? -1 : 1;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** Bundle reader codes -> agent codes: a file that fails its hash is tampering, the rest is a bad bundle. */
const BUNDLE_CODE_MAP: Partial<Record<string, AgentErrorCode>> = {
  [BUNDLE_ERROR_CODES.hashMismatch]: AGENT_ERROR_CODES.tampered,
};

const SIGNATURE_PROBLEMS: Record<string, AgentErrorCode> = {
  unsigned: AGENT_ERROR_CODES.unsigned,
  'wrong-key': AGENT_ERROR_CODES.wrongKey,
  'bad-signature': AGENT_ERROR_CODES.badSignature,
};

/** Board checks: field, what the board needs, what the bundle has, the check. */
const COMPAT: {
  field: string;
  need: (b: BoardCapabilities) => string;
  got: (m: BundleManifest) => unknown;
  ok: (m: BundleManifest, b: BoardCapabilities) => boolean;
}[] = [
  {
    field: 'input.dtype',
    need: (b) => `one of ${b.inputDtypes.join(', ')}`,
    got: (m) => m.input.dtype,
    ok: (m, b) => b.inputDtypes.includes(m.input.dtype),
  },
  {
    field: 'stats.tfliteBytes',
    need: (b) => `at most ${b.maxModelBytes} bytes on this board`,
    got: (m) => m.stats.tfliteBytes,
    ok: (m, b) => m.stats.tfliteBytes <= b.maxModelBytes,
  },
  {
    field: 'input.preprocess.inputSize',
    need: (b) => `at most ${b.maxInputPixels} input pixels on this board`,
    got: (m) => m.input.preprocess.inputSize,
    ok: (m, b) => m.input.preprocess.inputSize[0] * m.input.preprocess.inputSize[1] <= b.maxInputPixels,
  },
  {
    field: 'input.shape',
    need: () => 'channels matching input.preprocess.channels',
    got: (m) => m.input.shape,
    ok: (m) => (m.input.shape.length === 3 ? 1 : m.input.shape[3]) === m.input.preprocess.channels,
  },
];

/**
 * Accepts or refuses bundle bytes.
 * @example const ok = await acceptBundle(bytes, { keys: [pub], allowUnsigned: false, floor, board: DEFAULT_CAPABILITIES });
 */
export async function acceptBundle(bytes: Uint8Array, o: AcceptOptions): Promise<Accepted> {
  let b: Awaited<ReturnType<typeof readBundle>>;
  try {
    b = await readBundle(bytes);
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    throw new AgentError(
      BUNDLE_CODE_MAP[e.code] ?? AGENT_ERROR_CODES.badBundle,
      e,
      `${e.code}: ${e.message}`,
    );
  }
  const m = b.manifest;
  let keyId: string | null = null;
  if (!b.signed) {
    if (!o.allowUnsigned)
      throw new AgentError(AGENT_ERROR_CODES.unsigned, {
        field: 'signature.sig',
        expected: 'a signed bundle (agent.json does not allowUnsigned)',
        received: 'no signature',
      });
  } else if (o.keys.length) {
    let problem = 'wrong-key';
    try {
      for (const k of o.keys) {
        const s = checkSignature(b.manifestBytes, b.signatureBytes ?? undefined, k);
        if (s.valid) {
          keyId = keyIdOf(k);
          break;
        }
        if (s.problem === 'bad-signature') problem = s.problem;
      }
    } catch (e) {
      problem = 'bad-signature';
      if (!(e instanceof EdgeDmpError)) throw e;
    }
    if (!keyId)
      throw new AgentError(SIGNATURE_PROBLEMS[problem], {
        field: 'signature.sig',
        expected:
          problem === 'wrong-key'
            ? `a signature by one of ${o.keys.length} trusted key(s) in agent.json`
            : 'a signature matching manifest.json (it changed after signing)',
        received: `${problem} (key id ${b.signature?.keyId?.slice(0, 16) ?? '?'})`,
      });
  }
  try {
    validatePreprocess(m.input.preprocess, 'manifest.input.preprocess');
  } catch (e) {
    throw new AgentError(AGENT_ERROR_CODES.incompatible, e as EdgeDmpError);
  }
  for (const c of COMPAT) {
    if (!c.ok(m, o.board))
      throw new AgentError(AGENT_ERROR_CODES.incompatible, {
        field: `manifest.${c.field}`,
        expected: c.need(o.board),
        received: c.got(m),
      });
  }
  const version = m.model.version;
  if (o.floor && compareVersions(version, o.floor.version) < 0 && o.allowDowngrade !== version) {
    throw new AgentError(AGENT_ERROR_CODES.downgrade, {
      field: 'manifest.model.version',
      expected: `>= ${o.floor.version} (the version floor; a signed allow-downgrade request lifts it once)`,
      received: version,
    });
  }
  return { manifest: m, sha256: sha256Hex(bytes), version, name: m.model.name, entries: b.entries, keyId };
}
