/** Ed25519 signing keys: load a private key, generate a key pair. */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, keyIdOf, readKeyText, type KeySource } from '@edge-dmp/core';

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
