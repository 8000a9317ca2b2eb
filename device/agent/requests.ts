/**
 * Signed operator requests: `rollback` (go back to the previous model) and `allow-downgrade`
 * (accept one bundle of exactly `version` below the version floor). The signature covers the exact
 * UTF-8 bytes of `payload`, so no JSON canonicalisation is needed on either side.
 *   { "payload": "{\"action\":\"rollback\",\"deviceId\":\"cam1\",\"expires\":\"...\",\"nonce\":\"...\"}",
 *     "keyId": "<sha256 of the SPKI key>", "signature": "<base64 Ed25519>" }
 * Only node:crypto here: the host signs with {@link signRequest}, the agent verifies.
 */
import { randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { AGENT_ERROR_CODES, AgentError } from './errors.js';

export type RequestAction = 'rollback' | 'allow-downgrade';

export interface RequestPayload {
  action: RequestAction;
  /** The device it is for, or `*` for any device (a fleet-wide rollback). */
  deviceId: string;
  /** allow-downgrade: the version that may be installed below the floor. */
  version?: string;
  /** ISO time after which the request is void. */
  expires: string;
  /** Unique per request: a board accepts each nonce once. */
  nonce: string;
}

export interface SignedRequest {
  payload: string;
  keyId: string;
  signature: string;
}

const bad = (field: string, expected: string, received: unknown) =>
  new AgentError(AGENT_ERROR_CODES.badRequest, { field, expected, received });

/**
 * Signs a request with an Ed25519 private key (the host side: `edge-dmp rollback`).
 * @example const req = signRequest({ action: 'rollback', deviceId: 'cam1' }, privateKey, keyId);
 */
export function signRequest(
  p: { action: RequestAction; deviceId: string; version?: string; ttlMs?: number },
  key: KeyObject,
  keyId: string,
): SignedRequest {
  const payload: RequestPayload = {
    action: p.action,
    deviceId: p.deviceId,
    ...(p.version !== undefined ? { version: p.version } : {}),
    expires: new Date(Date.now() + (p.ttlMs ?? 15 * 60_000)).toISOString(),
    nonce: randomUUID(),
  };
  const text = JSON.stringify(payload);
  return { payload: text, keyId, signature: sign(null, Buffer.from(text), key).toString('base64') };
}

/**
 * Checks a request: a signature by one of `keys`, for this device, not expired, of the expected action.
 * @example const p = verifyRequest(req, keys, 'cam1', 'rollback', usedNonces);
 */
export function verifyRequest(
  req: unknown,
  keys: KeyObject[],
  deviceId: string,
  action: RequestAction,
  used: ReadonlySet<string> = new Set(),
): RequestPayload {
  const r = req as Partial<SignedRequest> | null;
  if (!r || typeof r.payload !== 'string' || typeof r.signature !== 'string')
    throw bad('request', 'a signed request {payload, keyId, signature}', req);
  const sig = Buffer.from(r.signature, 'base64');
  if (!keys.some((k) => verify(null, Buffer.from(r.payload!), k, sig)))
    throw bad(
      'request.signature',
      'an Ed25519 signature of payload by a key in agent.json publicKeys',
      r.keyId,
    );
  let p: RequestPayload;
  try {
    p = JSON.parse(r.payload) as RequestPayload;
  } catch {
    throw bad('request.payload', 'JSON', r.payload);
  }
  if (p.action !== action) throw bad('request.payload.action', action, p.action);
  if (p.deviceId !== deviceId && p.deviceId !== '*')
    throw bad('request.payload.deviceId', `${deviceId} or *`, p.deviceId);
  const exp = Date.parse(p.expires);
  if (!Number.isFinite(exp) || exp < Date.now())
    throw bad('request.payload.expires', 'a time in the future', p.expires);
  if (typeof p.nonce !== 'string' || !p.nonce || used.has(p.nonce))
    throw bad('request.payload.nonce', 'a nonce not used before', p.nonce);
  if (action === 'allow-downgrade' && typeof p.version !== 'string')
    throw bad('request.payload.version', 'the version allowed below the floor', p.version);
  return p;
}
