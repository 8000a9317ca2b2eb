/**
 * The on-disk records of the outbox (device/outbox.ts) and its lock, kept apart from the queue
 * logic: every line carries a CRC-32 of its text, so a flipped bit is a corrupt record that is set
 * aside, never a changed score or seq.
 *
 *   log line    `<crc8> {"seq","t","topic","body"}`      one result
 *   header      `<crc8> {"h":{"seq","pending"}}`          first line of a compacted log
 *   ack line    `<crc8> a <seq>` / `<crc8> d <seq>`        acknowledged / dropped
 *   lock        {"pid","start"}: `start` is the kernel's start time of that pid (/proc/<pid>/stat),
 *               so a reused pid (an unrelated live process after a reboot) is seen as stale
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '@edge-dmp/core';
import { crc32 } from 'node:zlib';

/** One pending message. `body` is published verbatim, so a re-send is byte-identical. */
export interface OutboxEntry {
  seq: number;
  /** Epoch ms when it was appended (for the age bound). */
  t: number;
  topic: string;
  body: string;
}

/** The first line of a compacted log: the counter then, and how many pending entries follow. */
export interface LogHeader {
  seq: number;
  pending: number;
}

const hex = (s: string) => (crc32(s) >>> 0).toString(16).padStart(8, '0');

/** A line with its checksum (and the newline). */
export function sealLine(text: string): string {
  return `${hex(text)} ${text}\n`;
}

/** The text of a sealed line, or null when its checksum does not match (or it has none). */
export function openLine(line: string): string | null {
  const m = /^([0-9a-f]{8}) (.*)$/s.exec(line);
  return m && hex(m[2]) === m[1] ? m[2] : null;
}

export type LogRecord = { kind: 'entry'; entry: OutboxEntry } | { kind: 'header'; header: LogHeader };

/** Parses a sealed log line; null when corrupt (checksum, JSON or fields). */
export function parseLogLine(line: string): LogRecord | null {
  const text = openLine(line);
  if (text === null) return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  const h = v.h as Record<string, unknown> | undefined;
  if (h && Number.isSafeInteger(h.seq) && Number.isSafeInteger(h.pending)) {
    return { kind: 'header', header: { seq: h.seq as number, pending: h.pending as number } };
  }
  if (
    Number.isSafeInteger(v.seq) &&
    (v.seq as number) > 0 &&
    Number.isFinite(v.t) &&
    typeof v.topic === 'string' &&
    typeof v.body === 'string'
  ) {
    return { kind: 'entry', entry: v as unknown as OutboxEntry };
  }
  return null;
}

export const entryLine = (e: OutboxEntry) =>
  sealLine(JSON.stringify({ seq: e.seq, t: e.t, topic: e.topic, body: e.body }));
export const headerLine = (h: LogHeader) => sealLine(JSON.stringify({ h }));
export const ackLine = (kind: 'a' | 'd', seq: number) => sealLine(`${kind} ${seq}`);

/** Parses a sealed ack line; null when corrupt. */
export function parseAckLine(line: string): { kind: 'a' | 'd'; seq: number } | null {
  const m = /^([ad]) (\d{1,15})$/.exec(openLine(line) ?? '');
  return m ? { kind: m[1] as 'a' | 'd', seq: Number(m[2]) } : null;
}

/** Kernel start time of a pid (clock ticks since boot), or null where /proc cannot tell. */
export function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's text for this process. */
function lockText(): string {
  return JSON.stringify({ pid: process.pid, start: startTimeOf(process.pid) });
}

/**
 * The pid holding a lock, when that process is still the one that wrote it; null for a stale lock:
 * a dead pid, a pid now used by another process (start time differs), an unreadable lock, or (an
 * old lock holding only a pid) a live process that is not node / edge-dmp.
 */
function lockOwner(text: string): number | null {
  let pid: number;
  let start: string | null | undefined;
  try {
    const v = JSON.parse(text) as { pid?: unknown; start?: unknown } | number;
    pid = typeof v === 'number' ? v : Number(v.pid);
    start = typeof v === 'number' ? undefined : (v.start as string | null);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return null;
  const now = startTimeOf(pid);
  if (start !== undefined) return start === null || now === null || now === start ? pid : null;
  let cmd: string;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return pid; // no /proc: trust the pid
  }
  return /node|edge-dmp/.test(cmd) ? pid : null;
}

/**
 * Writes all of `text` at the end of `fd`; a short write (the disk filled up mid-line) throws
 * ENOSPC like a failed one, so the caller stops appending after the partial line.
 */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  const n = writeSync(fd, buf);
  if (n !== buf.length) {
    throw Object.assign(new Error(`short write: ${n} of ${buf.length} bytes`), { code: 'ENOSPC' });
  }
}

/** Write errors that mean "no space": the outbox stops persisting instead of failing. */
export const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** Outbox directories open in this process. */
const OPEN = new Set<string>();
const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);

/**
 * Locks an outbox directory for this process: two processes appending to one outbox would hand
 * out the same seqs. A lock left by a dead process (kill -9, power cut), or naming a pid another
 * process now has, is taken over.
 * @example takeLock('/var/lib/edge-dmp/outbox/cam1', console.error); // ... releaseLock(dir)
 */
export function takeLock(dir: string, warn: (m: string) => void): void {
  const path = join(dir, 'lock');
  const key = resolve(dir);
  const refuse = (why: string) =>
    new ConfigError({
      field: 'outbox.dir',
      expected: 'an outbox directory no other running process uses',
      received: `${dir} (${why})`,
    });
  if (OPEN.has(key)) throw refuse('already open in this process');
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw refuse(`cannot create its lock: ${errCode(e)}`);
      const owner = lockOwner(readFileSync(path, 'utf8'));
      if (owner !== null) throw refuse(`locked by pid ${owner}`);
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeAll(fd, lockText());
    } catch (e) {
      // A full disk leaves an empty lock: ours in this process (OPEN), stale to others.
      warn(`cannot write ${path} (${errCode(e)}); locked in this process only`);
    } finally {
      closeSync(fd);
    }
    OPEN.add(key);
    return;
  }
  throw refuse('its lock could not be taken over');
}

/** Releases a lock taken by {@link takeLock}. */
export function releaseLock(dir: string): void {
  rmSync(join(dir, 'lock'), { force: true });
  OPEN.delete(resolve(dir));
}
