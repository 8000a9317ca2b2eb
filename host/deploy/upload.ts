/**
 * Resumable upload: the board keeps `<name>.part`; a new attempt checks the part's hash against the
 * same bytes of the local file and continues at its size, so a cut link costs only what was not
 * yet sent. The part is renamed to its final name only once its SHA-256 equals the local file's:
 * never a partial file under the final name.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { DeployError } from './errors.js';
import { sh, type Transport } from './transport.js';

export interface UploadProgress {
  file: string;
  /** Bytes now on the board (resumed + sent). */
  done: number;
  total: number;
  /** Bytes sent over the link in this attempt. */
  sent: number;
  bytesPerSec: number;
  etaS: number;
}

export interface UploadResult {
  remote: string;
  sha256: string;
  total: number;
  /** Bytes sent in this attempt (0 when the board already had the file). */
  sent: number;
  resumedFrom: number;
  skipped: boolean;
}

export interface UploadOptions {
  onProgress?: (p: UploadProgress) => void;
  /** Default 64 KiB. */
  chunkSize?: number;
}

/** SHA-256 of the first `length` bytes of a local file (all of it by default). */
export async function sha256File(path: string, length?: number): Promise<string> {
  const h = createHash('sha256');
  if (length === 0) return h.digest('hex');
  const s = createReadStream(path, length === undefined ? {} : { start: 0, end: length - 1 });
  for await (const c of s) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * SHA-256 of a file on the board (coreutils `sha256sum`, else OpenSSL); undefined when missing.
 * @example const h = await remoteSha256(t, '/opt/edge-dmp/inbox/m.edmp');
 */
export async function remoteSha256(t: Transport, path: string): Promise<string | undefined> {
  const r = await t.exec(
    `f=${sh(path)}; [ -f "$f" ] || exit 3; (sha256sum "$f" 2>/dev/null || openssl dgst -sha256 -r "$f") | cut -c1-64`,
  );
  if (r.code === 3) return undefined;
  const h = r.stdout.trim();
  if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(h))
    throw new DeployError('E_TRANSFER', {
      field: path,
      expected: 'sha256sum or openssl on the board',
      received: r.stderr.trim() || h,
    });
  return h;
}

/**
 * Uploads `local` to `remote` over `t`, resuming `<remote>.part` when its bytes match.
 * @example await uploadResumable(t, 'model.edmp', '/opt/edge-dmp/inbox/model.edmp', { onProgress: console.log });
 */
export async function uploadResumable(
  t: Transport,
  local: string,
  remote: string,
  o: UploadOptions = {},
): Promise<UploadResult> {
  const total = (await stat(local)).size;
  const sha256 = await sha256File(local);
  const base = { remote, sha256, total };
  if ((await t.size(remote)) === total && (await remoteSha256(t, remote)) === sha256)
    return { ...base, sent: 0, resumedFrom: total, skipped: true };
  const part = `${remote}.part`;
  const mkdir = await t.exec(`mkdir -p "$(dirname ${sh(remote)})"`);
  if (mkdir.code !== 0)
    throw new DeployError('E_TRANSFER', {
      field: remote,
      expected: 'a writable directory',
      received: mkdir.stderr.trim(),
    });
  let from = (await t.size(part)) ?? 0;
  // A part that is longer than the file, or whose bytes differ (another file, a changed bundle), restarts.
  if (from > total || (from > 0 && (await remoteSha256(t, part)) !== (await sha256File(local, from))))
    from = 0;
  const w = await t.openWriter(part, from);
  const chunk = o.chunkSize ?? 64 * 1024;
  const started = Date.now();
  let sent = 0;
  try {
    if (from < total) {
      for await (const c of createReadStream(local, { start: from, highWaterMark: chunk })) {
        await w.write(c as Buffer);
        sent += (c as Buffer).length;
        const secs = Math.max((Date.now() - started) / 1000, 1e-3);
        const rate = sent / secs;
        o.onProgress?.({
          file: local,
          done: from + sent,
          total,
          sent,
          bytesPerSec: rate,
          etaS: (total - from - sent) / Math.max(rate, 1),
        });
      }
    }
  } finally {
    await w.close().catch(() => undefined);
  }
  const got = await remoteSha256(t, part);
  if (got !== sha256) {
    await t.exec(`rm -f ${sh(part)}`);
    throw new DeployError(
      'E_TRANSFER',
      { field: remote, expected: `sha256 ${sha256}`, received: got },
      `upload of ${local} to ${t.name}:${remote} arrived with sha256 ${got}, expected ${sha256}; the part was removed`,
    );
  }
  await t.rename(part, remote);
  return { ...base, sent, resumedFrom: from, skipped: false };
}
