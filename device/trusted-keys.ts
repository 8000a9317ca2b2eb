/**
 * Trusted bundle-signing keys on a device: a text file of Ed25519 public keys in PEM (one or more
 * `-----BEGIN PUBLIC KEY-----` blocks). `--pubkey` adds its key here, so a key configured once is
 * used thereafter.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { keyIdOf, ConfigError } from '@edge-dmp/core';

const PEM = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;

/**
 * The keys in a trusted-keys file (none when it does not exist); a block that is not an Ed25519
 * public key is a ConfigError naming the file.
 * @example const keys = readTrustedKeys(join(homedir(), '.edge-dmp', 'trusted-keys'));
 */
export function readTrustedKeys(path: string): KeyObject[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError({
      field: path,
      expected: 'a readable trusted-keys file',
      received: (e as Error).message,
    });
  }
  return (text.match(PEM) ?? []).map((pem, i) => {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (e) {
      throw new ConfigError({
        field: `${path} key ${i + 1}`,
        expected: 'an Ed25519 public key in PEM',
        received: (e as Error).message,
      });
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError({
        field: `${path} key ${i + 1}`,
        expected: 'an Ed25519 public key',
        received: key.asymmetricKeyType,
      });
    }
    return key;
  });
}

/**
 * Adds a public key to a trusted-keys file unless it is there already. Returns true when added.
 * @example if (addTrustedKey(path, await loadPublicKey('edmp.pub'))) console.error('key added');
 */
export function addTrustedKey(path: string, key: KeyObject): boolean {
  const id = keyIdOf(key);
  if (readTrustedKeys(path).some((k) => keyIdOf(k) === id)) return false;
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `# key id ${id}\n${key.export({ type: 'spki', format: 'pem' }) as string}`, {
    mode: 0o644,
  });
  return true;
}
