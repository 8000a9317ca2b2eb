/** Ed25519 keys (a KeyObject, PEM text or a PEM file path): public ones for verification, private ones for signing requests. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/** A key: a KeyObject, PEM text, or the path of a PEM file. */
export type KeySource = KeyObject | string;

/** PEM text as given, or read from the file `src` (ConfigError naming `field` when unreadable). */
export async function readKeyText(src: string, field: string): Promise<string> {
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
 * Loads an Ed25519 public key (KeyObject, PEM text or PEM file path); a private key yields its public half.
 * @example const pub = await loadPublicKey('keys/edmp.pub');
 */
export async function loadPublicKey(src: KeySource, field = 'pubkey'): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = typeof src === 'string' ? createPublicKey(await readKeyText(src, field)) : src;
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
 * Loads an Ed25519 private key (KeyObject, PEM text or PEM file path).
 * @example const key = await loadPrivateKey('keys/edmp.key');
 */
export async function loadPrivateKey(src: KeySource, field = 'signKey'): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = typeof src === 'string' ? createPrivateKey(await readKeyText(src, field)) : src;
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
