/** Ed25519 signing keys: generate a key pair (loading one is core's). */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, keyIdOf } from '@edge-dmp/core';

// Loading a private key is core's (host tools sign requests without the converter); re-exported here.
export { loadPrivateKey } from '@edge-dmp/core';

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
