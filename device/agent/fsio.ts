/**
 * Durable file operations for the store: write-fsync-rename for files, fsync of the directory
 * after a rename, and symlink pointers replaced by rename(2), which is atomic on POSIX.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsyncs a directory so a rename or create inside it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes bytes to `path` and fsyncs them (the file is new or truncated). */
export function writeDurable(path: string, bytes: Uint8Array | string, mode = 0o644): void {
  const fd = openSync(path, 'w', mode);
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` atomically: a reader sees the old or the new contents, never a mix.
 * @example await writeAtomic('/opt/edge-dmp/store/floor.json', JSON.stringify({ version: '1.2.0' }));
 */
export async function writeAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeDurable(tmp, bytes);
  await rename(tmp, path);
  fsyncDir(dirname(path));
}

/** Points the symlink `link` at `target` by renaming a fresh symlink over it (atomic). */
export async function pointAt(link: string, target: string): Promise<void> {
  const tmp = join(dirname(link), `.${basename(link)}.${process.pid}.tmp`);
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
  fsyncDir(dirname(link));
}

/** The target of a symlink, or null when there is none. */
export async function readPointer(link: string): Promise<string | null> {
  try {
    return await readlink(link);
  } catch {
    return null;
  }
}
