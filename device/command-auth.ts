/**
 * Signed MQTT commands: an Ed25519 envelope (same keys as bundles: `edge-dmp keygen`) binding the
 * command to its topic (device and command name), a timestamp and a nonce, so a captured command
 * cannot be replayed, redirected to another device or turned into another command.
 *
 * Envelope (the payload on `<prefix>/cmd/<name>`):
 *   {"args": "<the command's JSON payload, as a string>", "ts": <epoch ms>, "nonce": "<1-64 chars>",
 *    "keyId": "<sha256 of the SPKI key>", "sig": "<base64 Ed25519 signature>"}
 * Signed bytes: `edge-dmp-cmd/1\n<topic>\n<ts>\n<nonce>\n<args>`.
 */
import { createPrivateKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { keyIdOf, EdgeDmpError } from '@edge-dmp/core';

const signedBytes = (topic: string, ts: number, nonce: string, args: string) =>
  Buffer.from(`edge-dmp-cmd/1\n${topic}\n${ts}\n${nonce}\n${args}`);

export interface SignCommandOptions {
  /** Full topic, e.g. `edge-dmp/cam1/cmd/pause`. */
  topic: string;
  /** The command's arguments (JSON-serialisable), e.g. `{ fps: 5 }`; default none. */
  args?: unknown;
  /** Ed25519 private key (KeyObject or PEM text). */
  key: KeyObject | string;
  /** Defaults: now, 16 random bytes. */
  ts?: number;
  nonce?: string;
}

/**
 * Builds the signed payload for a command.
 * @example
 * const payload = signCommand({ topic: 'edge-dmp/cam1/cmd/set-fps', args: { fps: 5 }, key: pem });
 * client.publish('edge-dmp/cam1/cmd/set-fps', payload, { qos: 1 });
 */
export function signCommand(o: SignCommandOptions): string {
  const key = typeof o.key === 'string' ? createPrivateKey(o.key) : o.key;
  const args = o.args === undefined ? '' : JSON.stringify(o.args);
  const ts = o.ts ?? Date.now();
  const nonce = o.nonce ?? randomBytes(16).toString('hex');
  const sig = sign(null, signedBytes(o.topic, ts, nonce, args), key).toString('base64');
  return JSON.stringify({ args, ts, nonce, keyId: keyIdOf(key), sig });
}

const cmdError = (code: string, expected: string, received: unknown) =>
  new EdgeDmpError(code, { field: 'payload', expected, received });

/** Checks signed command envelopes against trusted keys, a clock window and recent nonces. */
export class CommandVerifier {
  private readonly nonces = new Map<string, number>();
  constructor(
    private readonly keys: KeyObject[],
    private readonly maxSkewMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The command's argument payload (the `args` string) when the envelope is signed by a trusted
   * key for this topic, within the time window, with an unseen nonce; otherwise an EdgeDmpError
   * E_CMD_UNSIGNED / E_CMD_BAD_SIGNATURE / E_CMD_STALE / E_CMD_REPLAY.
   * @example const argsText = verifier.verify(topic, JSON.parse(payload));
   */
  verify(topic: string, env: Record<string, unknown>): string {
    const { args, ts, nonce, sig } = env;
    if (
      typeof args !== 'string' ||
      typeof sig !== 'string' ||
      typeof nonce !== 'string' ||
      !/^[\w-]{1,64}$/.test(nonce) ||
      !Number.isSafeInteger(ts)
    ) {
      throw cmdError('E_CMD_UNSIGNED', 'a signed envelope {args, ts, nonce, keyId, sig}', Object.keys(env));
    }
    const bytes = signedBytes(topic, ts as number, nonce, args);
    const signature = Buffer.from(sig, 'base64');
    if (!this.keys.some((k) => verify(null, bytes, k, signature))) {
      throw cmdError(
        'E_CMD_BAD_SIGNATURE',
        'an Ed25519 signature by a trusted command key for this topic',
        env.keyId,
      );
    }
    const now = this.now();
    if (Math.abs(now - (ts as number)) > this.maxSkewMs) {
      throw cmdError('E_CMD_STALE', `a timestamp within ${this.maxSkewMs} ms of the device clock`, ts);
    }
    for (const [n, t] of this.nonces) if (t < now - 2 * this.maxSkewMs) this.nonces.delete(n);
    if (this.nonces.has(nonce)) throw cmdError('E_CMD_REPLAY', 'a nonce not used before', nonce);
    // Nonces older than the window are forgotten; the timestamp check refuses those anyway.
    this.nonces.set(nonce, ts as number);
    return args;
  }
}
