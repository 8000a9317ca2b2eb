/**
 * Rebuilding the outbox (device/outbox.ts) from its files on open: which entries are pending,
 * which lines are corrupt, and where `seq` continues. Pure: lines in, decisions out.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseAckLine, parseLogLine, type OutboxEntry } from './outbox-records.js';

const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);

/** The persisted part of state.json. */
export interface OutboxState {
  seq: number;
  /** Every seq handed out is at most this (reserved ahead, see SEQ_BLOCK). */
  reserved: number;
  dropped: number;
  corrupt: number;
}

export interface RecoverInput {
  /** Complete lines of `log` and `acks` (a torn last line already left out). */
  log: string[];
  acks: string[];
  /** state.json, or null when missing or unreadable. */
  state: OutboxState | null;
  /** The directory held an outbox before (state.json or log existed). */
  existed: boolean;
  /** The `full` marker: seqs were used while nothing could be written. */
  wasFull: boolean;
}

export interface Recovered {
  /** Pending entries in seq order. */
  entries: OutboxEntry[];
  /** The last seq used; the next entry gets seq + 1. */
  seq: number;
  /** Corrupt log lines (bad checksum, bad fields, or a seq that is not the line's slot). */
  bad: string[];
  /** `d` lines in acks (dropped entries not yet folded into state.json). */
  droppedAcks: number;
  /** Why seq was moved past the reservation (log lost, emptied, cut; was full), or null. */
  damaged: string | null;
}

/**
 * Reads the log: after the header, its `pending` compacted entries (increasing, at most the
 * header's seq), then appended line k holds exactly seq header.seq + 1 + k. A corrupt line keeps
 * its slot, so its seq is never handed out again.
 * @example const r = recoverOutbox({ log, acks, state, existed: true, wasFull: false });
 */
export function recoverOutbox(input: RecoverInput): Recovered {
  const { log, acks, state } = input;
  const finished = new Set<number>();
  let ackMax = 0;
  let droppedAcks = 0;
  for (const line of acks) {
    const a = parseAckLine(line);
    if (!a) continue; // a damaged ack: the entry is sent again (at least once)
    finished.add(a.seq);
    ackMax = Math.max(ackMax, a.seq);
    if (a.kind === 'd') droppedAcks++;
  }
  const first = log.length ? parseLogLine(log[0]) : null;
  const header = first?.kind === 'header' ? first.header : null;
  const base = header?.seq ?? 0;
  const compacted = header?.pending ?? 0;
  const bad: string[] = [];
  const entries: OutboxEntry[] = [];
  let prev = 0;
  (header ? log.slice(1) : log).forEach((line, i) => {
    const r = parseLogLine(line);
    const ok =
      r?.kind === 'entry' &&
      (header && i < compacted
        ? r.entry.seq > prev && r.entry.seq <= base
        : r.entry.seq > prev && (!header || r.entry.seq === base + 1 + (i - compacted)));
    if (!ok || r?.kind !== 'entry') return void bad.push(line);
    prev = r.entry.seq;
    if (!finished.has(r.entry.seq)) entries.push(r.entry);
  });
  const slots = Math.max(0, log.length - (header ? 1 : 0) - compacted);
  let seq = Math.max(header ? base + slots : prev, ackMax, state?.seq ?? 0);
  // Seqs may have been used that nothing here shows: continue above the reservation.
  const damaged = input.wasFull
    ? 'seqs were used while the outbox was full'
    : input.existed && !header
      ? 'the log is missing or emptied'
      : state !== null && state.seq > base + slots
        ? 'the log is cut short'
        : null;
  if (damaged) seq = Math.max(seq, state?.reserved ?? 0);
  return { entries, seq, bad, droppedAcks, damaged };
}

/** Complete lines of a file; a last line without its newline is torn (power cut) and left out. */
export function completeLines(dir: string, name: string): string[] {
  const path = join(dir, name);
  if (!existsSync(path)) return [];
  const parts = readFileSync(path, 'utf8').split('\n');
  parts.pop();
  return parts.filter(Boolean);
}

/** Appends corrupt lines to `<dir>/corrupt`, tagged with the file they came from. */
export function keepAside(dir: string, lines: string[], from: string, warn: (m: string) => void): void {
  try {
    appendFileSync(join(dir, 'corrupt'), lines.map((l) => `${from}\t${l}\n`).join(''));
  } catch (e) {
    warn(`cannot keep corrupt records aside (${errCode(e)})`);
  }
}

/** state.json, or null when missing; an unreadable one is kept aside, reported, and null. */
export function readState(dir: string, warn: (m: string) => void): OutboxState | null {
  const path = join(dir, 'state.json');
  if (!existsSync(path)) return null;
  const text = readFileSync(path, 'utf8');
  try {
    const s = JSON.parse(text) as Partial<OutboxState>;
    const int = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
    if (!Number.isSafeInteger(s.seq)) throw new Error('no seq');
    return { seq: int(s.seq), reserved: int(s.reserved), dropped: int(s.dropped), corrupt: int(s.corrupt) };
  } catch {
    keepAside(dir, [text], 'state.json', warn);
    warn(`${path} is unreadable; seq recovered from the log and acks`);
    return null;
  }
}

/** Writes a file by tmp + rename (fsynced when `fsync`); a failed tmp is removed, not left to fill the disk. */
export function writeAtomic(dir: string, name: string, fsync: boolean, data: string): void {
  const tmp = join(dir, `${name}.tmp`);
  try {
    writeFileSync(tmp, data);
    if (fsync) {
      const fd = openSync(tmp, 'r+');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
