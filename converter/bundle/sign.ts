/** Re-signs an existing bundle. */
import { sign as edSign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import {
  MANIFEST_FILE,
  SIGNATURE_FILE,
  keyIdOf,
  readBundle,
  readBundleBytes,
  sha256Hex,
  type BundleSource,
  type KeySource,
  type SignatureFile,
} from '@edge-dmp/core';
import { loadPrivateKey } from './keys.js';
import { ZIP_MTIME, type BuiltBundle } from './write.js';

/**
 * Signs (or re-signs) an existing bundle: same entries, new signature.sig. Refuses bundles whose
 * files do not match their manifest, so a signature never vouches for tampered contents.
 * @example await signBundle('model.edmp', 'keys/edmp.key', 'model.signed.edmp');
 */
export async function signBundle(
  src: BundleSource,
  signKey: KeySource,
  outPath: string,
): Promise<BuiltBundle> {
  const key = await loadPrivateKey(signKey);
  const data = await readBundleBytes(src);
  const b = await readBundle(data);
  const entries = b.entries;
  const keyId = keyIdOf(key);
  const sig: SignatureFile = {
    algorithm: 'Ed25519',
    keyId,
    signature: edSign(null, b.manifestBytes, key).toString('base64'),
  };
  const zip: Zippable = {
    [MANIFEST_FILE]: b.manifestBytes,
    [SIGNATURE_FILE]: new TextEncoder().encode(JSON.stringify(sig) + '\n'),
  };
  for (const name of Object.keys(b.manifest.files)) zip[name] = entries.get(name)!;
  const bytes = zipSync(zip, { level: 6, mtime: ZIP_MTIME });
  await mkdir(dirname(resolve(outPath)), { recursive: true });
  await writeFile(outPath, bytes);
  return { bytes, manifest: b.manifest, sha256: sha256Hex(bytes), signed: true, keyId };
}
