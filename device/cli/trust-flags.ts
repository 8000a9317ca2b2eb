/**
 * Bundle trust for `edge-dmp run` and `edge-dmp classify --bundle`: signatures are required by
 * default. Keys come from `--pubkey` (used for this run and added to the trusted-keys file, so it
 * is used thereafter) or the trusted-keys file (`--trusted-keys`, default
 * `$EDGE_DMP_HOME/trusted-keys`, EDGE_DMP_HOME defaulting to ~/.edge-dmp). `--allow-unsigned` (or
 * `"allowUnsigned": true` in `$EDGE_DMP_HOME/config.json`) runs a bundle without a verified
 * signature, with a warning. Verified bundles must not be older than the highest version accepted
 * on this device (`$EDGE_DMP_HOME/version-floor.json`) unless `--allow-downgrade`.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { keyIdOf, loadPublicKey, readBundleBytes, ConfigError } from '@edge-dmp/core';
import { loadBundle, type LoadedBundle } from '../bundle.js';
import { addTrustedKey, readTrustedKeys } from '../trusted-keys.js';

export const TRUST_FLAGS = {
  'allow-unsigned': { type: 'boolean' },
  'trusted-keys': { type: 'string' },
  'allow-downgrade': { type: 'boolean' },
} as const;

export const TRUST_USAGE = [
  '  --trusted-keys <file>        trusted signing keys (PEM; default $EDGE_DMP_HOME/trusted-keys,',
  '                               EDGE_DMP_HOME=~/.edge-dmp); --pubkey adds its key there',
  '  --allow-unsigned             run a bundle without a valid signature by a trusted key (warns)',
  '  --allow-downgrade            accept a bundle version below the highest accepted on this device',
].join('\n');

/** The folder of the device's trust state: EDGE_DMP_HOME, or ~/.edge-dmp. */
export function edgeDmpHome(): string {
  return resolve(process.env.EDGE_DMP_HOME || join(homedir(), '.edge-dmp'));
}

/** `$EDGE_DMP_HOME/config.json`: the config keys the CLI reads ({} when absent). */
export function readDeviceConfig(home = edgeDmpHome()): { allowUnsigned?: boolean } {
  const path = join(home, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const v = JSON.parse(text) as { allowUnsigned?: unknown };
    if (v.allowUnsigned !== undefined && typeof v.allowUnsigned !== 'boolean')
      throw new Error('allowUnsigned');
    return v as { allowUnsigned?: boolean };
  } catch (e) {
    throw new ConfigError({
      field: path,
      expected: 'JSON {"allowUnsigned": true|false}',
      received: (e as Error).message,
    });
  }
}

type Values = Record<string, string | boolean | undefined>;

/**
 * Reads the bundle once and checks it against the device's trust settings; prints which key
 * verified it (or the warning for an unverified one). The caller hands `bytes` on to the
 * classifier, so what runs is exactly what was verified.
 * @example const { bytes, loaded } = await openTrustedBundle('run', values);
 */
export async function openTrustedBundle(
  cmd: string,
  v: Values,
): Promise<{ bytes: Uint8Array; loaded: LoadedBundle }> {
  const path = v.bundle as string;
  const home = edgeDmpHome();
  const keysFile =
    typeof v['trusted-keys'] === 'string' ? resolve(v['trusted-keys']) : join(home, 'trusted-keys');
  const allowUnsigned = v['allow-unsigned'] === true || readDeviceConfig(home).allowUnsigned === true;
  const pubkey = typeof v.pubkey === 'string' ? await loadPublicKey(v.pubkey, '--pubkey') : undefined;
  const keys = pubkey ? [pubkey] : readTrustedKeys(keysFile);
  const bytes = await readBundleBytes(path);
  const loaded = await loadBundle(bytes, {
    trustedKeys: keys,
    requireSignature: true,
    allowUnsigned,
    versionFloor: { path: join(home, 'version-floor.json'), allowDowngrade: v['allow-downgrade'] === true },
  });
  // Remembered only once it verified a bundle: a mistyped key path is not trusted for good.
  if (pubkey && loaded.signatureVerified && addTrustedKey(keysFile, pubkey)) {
    console.error(`edge-dmp ${cmd}: trusted key ${keyIdOf(pubkey).slice(0, 16)} added to ${keysFile}`);
  }
  const m = loaded.manifest.model;
  if (loaded.signatureVerified) {
    const was = loaded.previousVersion ? `, previous ${loaded.previousVersion}` : '';
    console.error(
      `edge-dmp ${cmd}: ${m.name} ${m.version} signed by trusted key ${loaded.keyId?.slice(0, 16)}${was}`,
    );
  } else {
    console.error(
      `edge-dmp ${cmd}: WARNING: ${m.name} ${m.version} is not verified (${loaded.unverifiedReason}); running it because of --allow-unsigned`,
    );
  }
  return { bytes, loaded };
}
