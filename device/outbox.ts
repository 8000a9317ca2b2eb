/**
 * Durable outbox: results that the broker has not acknowledged yet, kept on disk so that they
 * survive broker outages and a kill -9 of the device process, and the per-device `seq` counter.
 *
 * Layout of the directory (line formats: ./outbox-records.ts; every line carries a CRC-32):
 *   log         a header {seq, pending} then the pending entries (as of the last compaction), then
 *               one line per appended entry; appended line k after the header's pending ones holds
 *               seq header.seq + 1 + k, so a record whose seq is not its slot's (a flipped digit, a
 *               forged jump) is corrupt, and a corrupt line still uses up its seq
 *   acks        one line per finished entry: acknowledged or dropped
 *   state.json  {v, seq, reserved, dropped, corrupt}, written by rename at compaction and whenever
 *               half the reservation is used (then reserved = seq + SEQ_BLOCK): if the log is lost,
 *               emptied or cut, seq restarts above `reserved`, never at an already used value
 *   corrupt     corrupt lines set aside as found (never re-sequenced, never published)
 *   full        an empty marker while the disk is full (seqs are used that the log cannot show)
 * Pending = entries of `log` without an ack. A torn last line (power loss mid-write) is ignored on
 * open. On a full disk (ENOSPC) the outbox stops persisting, keeps entries in memory (same bounds),
 * says so once, and retries a compaction every few seconds: that writes everything pending.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@edge-dmp/core';
import {
  ackLine,
  entryLine,
  headerLine,
  releaseLock,
  takeLock,
  NO_SPACE,
  writeAll,
  type OutboxEntry,
} from './outbox-records.js';
import { completeLines, keepAside, readState, recoverOutbox, writeAtomic } from './outbox-recover.js';

export type { OutboxEntry } from './outbox-records.js';

/** When appended lines are fsynced: each append, at most every `fsyncIntervalMs`, or never. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

/** How far ahead of `seq` state.json reserves, so that a lost log cannot make seq reuse values. */
export const SEQ_BLOCK = 1000;
/** How often (ms) a full outbox retries persisting. */
const RETRY_MS = 2000;

export interface OutboxOptions {
  /** Directory of the outbox (created if missing). One device process per directory. */
  dir: string;
  /** Most pending entries kept; the oldest are dropped beyond it (default 100000). */
  maxEntries?: number;
  /** Most bytes of pending entries kept (default 64 MiB). */
  maxBytes?: number;
  /** Pending entries older than this are dropped (default 7 days). */
  maxAgeMs?: number;
  fsync?: FsyncPolicy;
  /** For `fsync: 'interval'` (default 1000). */
  fsyncIntervalMs?: number;
  /** Clock, for tests of the age bound. */
  now?: () => number;
  /** Where problems found (corrupt records, a recovered state.json, a full disk) are told; default stderr. */
  onWarning?: (message: string) => void;
}

export interface OutboxStats {
  pending: number;
  /** Entries dropped by the size/age bounds since the outbox was created (persisted). */
  dropped: number;
  /** Bytes of pending entries. */
  bytes: number;
  lastSeq: number;
  /** Corrupt records found and set aside (in `corrupt`) since the outbox was created (persisted). */
  corrupt: number;
  /** Why entries are not being persisted now (`outbox full` on ENOSPC), or null when they are. */
  full: string | null;
}

const FSYNC_POLICIES: FsyncPolicy[] = ['always', 'interval', 'never'];

function positive(field: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new ConfigError({ field, expected: 'a positive number', received: v });
  return v;
}

const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);

/**
 * A durable, size/age-bounded FIFO of unacknowledged messages.
 * @example
 * const box = new Outbox({ dir: '/var/lib/edge-dmp/outbox' });
 * const e = box.append('edge-dmp/cam1/results', (seq) => JSON.stringify({ seq }));
 * // ... after PUBACK:
 * box.ack(e.seq);
 */
export class Outbox {
  readonly dir: string;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private logFd = -1;
  private ackFd = -1;
  /** Pending entries in seq order. */
  private entries: OutboxEntry[] = [];
  private bytes = 0;
  private seq = 0;
  private reserved = 0;
  private droppedTotal = 0;
  private corruptTotal = 0;
  /** Lines in `log` (pending + finished), to decide when to compact. */
  private logLines = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Why nothing is persisted now (null: persisting); when the next retry is due. */
  private fullReason: string | null = null;
  private retryAt = 0;

  constructor(opts: OutboxOptions) {
    if (!opts || typeof opts.dir !== 'string' || !opts.dir) {
      throw new ConfigError({ field: 'outbox.dir', expected: 'a directory path', received: opts?.dir });
    }
    this.dir = opts.dir;
    this.maxEntries = positive('outbox.maxEntries', opts.maxEntries ?? 100_000);
    this.maxBytes = positive('outbox.maxBytes', opts.maxBytes ?? 64 * 1024 * 1024);
    this.maxAgeMs = positive('outbox.maxAgeMs', opts.maxAgeMs ?? 7 * 24 * 3600 * 1000);
    this.fsyncPolicy = opts.fsync ?? 'interval';
    if (!FSYNC_POLICIES.includes(this.fsyncPolicy)) {
      throw new ConfigError({
        field: 'outbox.fsync',
        expected: FSYNC_POLICIES.join(' | '),
        received: this.fsyncPolicy,
      });
    }
    const interval = positive('outbox.fsyncIntervalMs', opts.fsyncIntervalMs ?? 1000);
    this.now = opts.now ?? Date.now;
    this.warn = opts.onWarning ?? ((m) => void process.stderr.write(`edge-dmp outbox: ${m}\n`));
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new ConfigError({
        field: 'outbox.dir',
        expected: 'a directory the device can create and write',
        received: `${this.dir} (${errCode(e)})`,
      });
    }
    takeLock(this.dir, this.warn);
    try {
      this.load();
      this.logFd = openSync(join(this.dir, 'log'), 'a');
      this.ackFd = openSync(join(this.dir, 'acks'), 'a');
    } catch (e) {
      releaseLock(this.dir);
      throw new ConfigError({
        field: 'outbox.dir',
        expected: 'a readable, writable outbox directory',
        received: `${this.dir} (${errCode(e)})`,
      });
    }
    if (this.fsyncPolicy === 'interval') {
      this.timer = setInterval(() => this.sync(), interval);
      this.timer.unref();
    }
    this.expire();
  }

  private load(): void {
    const state = readState(this.dir, this.warn);
    const r = recoverOutbox({
      log: completeLines(this.dir, 'log'),
      acks: completeLines(this.dir, 'acks'),
      state,
      existed: state !== null || existsSync(join(this.dir, 'log')),
      wasFull: existsSync(join(this.dir, 'full')),
    });
    this.entries = r.entries;
    this.seq = r.seq;
    this.reserved = state?.reserved ?? 0;
    this.droppedTotal = (state?.dropped ?? 0) + r.droppedAcks;
    this.corruptTotal = (state?.corrupt ?? 0) + r.bad.length;
    if (r.damaged) this.warn(`${r.damaged} (${this.dir}); seq continues at ${r.seq + 1}`);
    if (r.bad.length) {
      keepAside(this.dir, r.bad, 'log', this.warn);
      this.warn(
        `${r.bad.length} corrupt record(s) in ${join(this.dir, 'log')} skipped, kept in ${join(this.dir, 'corrupt')}`,
      );
    }
    this.bytes = this.entries.reduce((n, e) => n + Buffer.byteLength(e.body), 0);
    this.logLines = this.entries.length;
    // Folds acks into the log (their dropped counts into state.json) and fixes a torn tail; on a
    // full disk the device still starts (full), and keeps the log as it is.
    if (!this.compact()) this.goFull('outbox full');
  }

  /** Runs a write; on failure stops persisting (never throws) and returns false. */
  private persist(write: () => void): boolean {
    if (this.fullReason !== null) {
      this.retry();
      if (this.fullReason !== null) return false;
    }
    try {
      write();
      return true;
    } catch (e) {
      const code = errCode(e);
      this.goFull(NO_SPACE.has(code) ? 'outbox full' : `outbox write failed: ${code}`);
      return false;
    }
  }

  private goFull(reason: string): void {
    if (this.fullReason === null) {
      this.warn(
        `${reason} (${this.dir}): results are published live but not persisted until it can write again`,
      );
      // An empty marker needs no data block: after a restart on the still-full disk it says that
      // seqs were used that the log does not show.
      try {
        closeSync(openSync(join(this.dir, 'full'), 'w'));
      } catch {
        // nothing more can be done on this disk
      }
    }
    this.fullReason = reason;
    this.retryAt = this.now() + RETRY_MS;
  }

  /** A full outbox tries, at most every RETRY_MS, to write everything pending again. */
  private retry(): void {
    if (this.fullReason === null || this.now() < this.retryAt) return;
    const was = this.fullReason;
    if (this.compact()) {
      this.fullReason = null;
      this.warn(`${was} cleared: ${this.entries.length} pending entries persisted`);
    } else this.retryAt = this.now() + RETRY_MS;
  }

  /**
   * Appends a message; `body(seq)` builds it from the newly assigned seq. Returns the entry.
   * Drops the oldest entries when a bound is exceeded. Never throws for a disk problem: the entry
   * then lives in memory only (see `stats().full`).
   */
  append(topic: string, body: (seq: number) => string): OutboxEntry {
    if (this.closed)
      throw new ConfigError({ field: 'outbox', expected: 'an open outbox', received: 'closed' });
    const seq = this.seq + 1;
    const e: OutboxEntry = { seq, t: this.now(), topic, body: body(seq) };
    this.seq = seq;
    if (seq >= this.reserved - SEQ_BLOCK / 2) this.persist(() => this.writeState(seq + SEQ_BLOCK));
    if (this.persist(() => writeAll(this.logFd, entryLine(e)))) this.logLines++;
    this.entries.push(e);
    this.bytes += Buffer.byteLength(e.body);
    this.written();
    this.expire();
    return e;
  }

  /** Marks `seq` delivered. Unknown or already finished seqs are ignored (late PUBACK after a drop). */
  ack(seq: number): void {
    this.finish(seq, 'a');
  }

  private finish(seq: number, kind: 'a' | 'd'): boolean {
    if (this.closed) return false;
    const i = this.indexOf(seq);
    if (i < 0) return false;
    const [e] = this.entries.splice(i, 1);
    this.bytes -= Buffer.byteLength(e.body);
    if (kind === 'd') this.droppedTotal++;
    // When full, the ack is implied by the compaction that ends it (finished entries are left out).
    if (this.persist(() => writeAll(this.ackFd, ackLine(kind, seq)))) {
      this.written();
      // Compact once finished lines dominate, not on every drain: a rewrite costs three fsyncs.
      if (this.logLines > 2 * this.entries.length + 1000) this.persist(() => this.compactOrThrow());
    }
    return true;
  }

  private indexOf(seq: number): number {
    // Acks arrive nearly in order, so the head is the usual hit.
    if (this.entries.length && this.entries[0].seq === seq) return 0;
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.entries[mid].seq;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Drops entries beyond the count/size/age bounds, oldest first. Returns how many. */
  expire(): number {
    let n = 0;
    const cutoff = this.now() - this.maxAgeMs;
    while (
      this.entries.length &&
      (this.entries.length > this.maxEntries || this.bytes > this.maxBytes || this.entries[0].t < cutoff)
    ) {
      if (this.finish(this.entries[0].seq, 'd')) n++;
    }
    return n;
  }

  /** Pending entries in seq order (a copy of the list; entries themselves are shared). */
  pending(): OutboxEntry[] {
    return this.entries.slice();
  }

  /** First pending entry with seq > `after`, or undefined. */
  next(after: number): OutboxEntry | undefined {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.entries[lo];
  }

  /** True when `seq` is still pending. */
  has(seq: number): boolean {
    return this.indexOf(seq) >= 0;
  }

  stats(): OutboxStats {
    this.retry();
    return {
      pending: this.entries.length,
      dropped: this.droppedTotal,
      bytes: this.bytes,
      lastSeq: this.seq,
      corrupt: this.corruptTotal,
      full: this.fullReason,
    };
  }

  private written(): void {
    if (this.fsyncPolicy === 'always') this.sync();
    else this.dirty = true;
  }

  /** Flushes appended lines to the disk (fsync). */
  sync(): void {
    if (this.closed || this.fullReason !== null) return;
    if (this.fsyncPolicy === 'always' || this.dirty) {
      this.persist(() => {
        fsyncSync(this.logFd);
        fsyncSync(this.ackFd);
      });
      this.dirty = false;
    }
  }

  private writeState(reserved: number): void {
    const s = { v: 2, seq: this.seq, reserved, dropped: this.droppedTotal, corrupt: this.corruptTotal };
    writeAtomic(this.dir, 'state.json', this.fsyncPolicy !== 'never', JSON.stringify(s));
    this.reserved = reserved;
  }

  /** {@link compactOrThrow}, false instead of an exception. */
  private compact(): boolean {
    try {
      this.compactOrThrow();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Rewrites `log` as a header plus the pending entries and empties `acks`. Order matters for
   * crash safety: state.json first (seq, reservation and counts survive), then the new log (by
   * rename), then acks.
   */
  private compactOrThrow(): void {
    this.writeState(this.seq + SEQ_BLOCK);
    const log =
      headerLine({ seq: this.seq, pending: this.entries.length }) + this.entries.map(entryLine).join('');
    writeAtomic(this.dir, 'log', this.fsyncPolicy !== 'never', log);
    writeAtomic(this.dir, 'acks', this.fsyncPolicy !== 'never', '');
    this.logLines = this.entries.length;
    if (this.logFd >= 0 && !this.closed) {
      closeSync(this.logFd);
      closeSync(this.ackFd);
      this.logFd = openSync(join(this.dir, 'log'), 'a');
      this.ackFd = openSync(join(this.dir, 'acks'), 'a');
    }
    rmSync(join(this.dir, 'full'), { force: true });
    this.dirty = false;
  }

  /** Syncs and closes the files. Pending entries stay on disk for the next process. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.retry();
    if (this.fsyncPolicy !== 'never' && this.fullReason === null) {
      this.persist(() => {
        fsyncSync(this.logFd);
        fsyncSync(this.ackFd);
      });
    }
    closeSync(this.logFd);
    closeSync(this.ackFd);
    releaseLock(this.dir);
    this.closed = true;
  }
}
