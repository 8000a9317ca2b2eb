/**
 * Durable outbox: results that the broker has not acknowledged yet, kept on disk so that they
 * survive broker outages and a kill -9 of the device process, and the per-device `seq` counter.
 *
 * Layout of the directory:
 *   log         append-only, one JSON line per entry: {"seq","t","topic","body"}
 *   acks        append-only, one line per finished entry: "a <seq>" (acknowledged) or "d <seq>" (dropped)
 *   state.json  {"seq","dropped"} written (tmp + rename) before each compaction, so `seq` stays
 *               monotonic after the log is rewritten
 * Pending = entries of `log` without a line in `acks`. A torn last line (power loss mid-write) is
 * ignored on open. A kill -9 needs no fsync (the kernel has the bytes); the fsync policy is about
 * power loss.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '@edge-dmp/core';

/** When appended lines are fsynced: each append, at most every `fsyncIntervalMs`, or never. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

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
}

/** One pending message. `body` is published verbatim, so a re-send is byte-identical. */
export interface OutboxEntry {
  seq: number;
  /** Epoch ms when it was appended (for the age bound). */
  t: number;
  topic: string;
  body: string;
}

export interface OutboxStats {
  pending: number;
  /** Entries dropped by the size/age bounds since the outbox was created (persisted). */
  dropped: number;
  /** Bytes of pending entries. */
  bytes: number;
  lastSeq: number;
}

/** Outbox directories open in this process. */
const OPEN = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const FSYNC_POLICIES: FsyncPolicy[] = ['always', 'interval', 'never'];

function positive(field: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new ConfigError({ field, expected: 'a positive number', received: v });
  return v;
}

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
  private logFd: number;
  private ackFd: number;
  /** Pending entries in seq order. */
  private entries: OutboxEntry[] = [];
  private bytes = 0;
  private seq = 0;
  private droppedTotal = 0;
  /** Lines in `log` (pending + finished), to decide when to compact. */
  private logLines = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

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
    this.now = opts.now ?? Date.now;
    mkdirSync(this.dir, { recursive: true });
    this.lock();
    try {
      this.load();
    } catch (e) {
      rmSync(join(this.dir, 'lock'), { force: true });
      OPEN.delete(resolve(this.dir));
      throw e;
    }
    this.logFd = openSync(join(this.dir, 'log'), 'a');
    this.ackFd = openSync(join(this.dir, 'acks'), 'a');
    if (this.fsyncPolicy === 'interval') {
      this.timer = setInterval(
        () => this.sync(),
        positive('outbox.fsyncIntervalMs', opts.fsyncIntervalMs ?? 1000),
      );
      this.timer.unref();
    }
    this.expire();
  }

  /**
   * Two processes appending to one outbox would hand out the same seqs, so the directory is
   * locked by pid. A lock left by a dead process (kill -9, power cut) is taken over.
   */
  private lock(): void {
    const path = join(this.dir, 'lock');
    const key = resolve(this.dir);
    if (OPEN.has(key)) {
      throw new ConfigError({
        field: 'outbox.dir',
        expected: 'an outbox directory no other running process uses',
        received: `${this.dir} (already open in this process)`,
      });
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        OPEN.add(key);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new ConfigError({
          field: 'outbox.dir',
          expected: 'an outbox directory no other running process uses',
          received: `${this.dir} (locked by pid ${pid})`,
        });
      }
      rmSync(path, { force: true });
    }
  }

  private load(): void {
    const statePath = join(this.dir, 'state.json');
    if (existsSync(statePath)) {
      try {
        const s = JSON.parse(readFileSync(statePath, 'utf8')) as { seq?: number; dropped?: number };
        this.seq = Number.isSafeInteger(s.seq) ? (s.seq as number) : 0;
        this.droppedTotal = Number.isSafeInteger(s.dropped) ? (s.dropped as number) : 0;
      } catch {
        // state.json is written by rename, so it is whole or absent; a bad one means manual edits.
        throw new ConfigError({
          field: statePath,
          expected: 'JSON {"seq","dropped"}',
          received: 'unparsable file',
        });
      }
    }
    const finished = new Set<number>();
    const ackPath = join(this.dir, 'acks');
    if (existsSync(ackPath)) {
      for (const line of readFileSync(ackPath, 'utf8').split('\n')) {
        const m = /^([ad]) (\d+)$/.exec(line);
        if (!m) continue; // torn tail
        const seq = Number(m[2]);
        finished.add(seq);
        if (m[1] === 'd') this.droppedTotal++;
        this.seq = Math.max(this.seq, seq);
      }
    }
    const logPath = join(this.dir, 'log');
    if (existsSync(logPath)) {
      for (const line of readFileSync(logPath, 'utf8').split('\n')) {
        if (!line) continue;
        let e: OutboxEntry;
        try {
          e = JSON.parse(line) as OutboxEntry;
        } catch {
          continue; // torn tail
        }
        if (!Number.isSafeInteger(e.seq) || typeof e.body !== 'string' || typeof e.topic !== 'string')
          continue;
        this.logLines++;
        this.seq = Math.max(this.seq, e.seq);
        if (!finished.has(e.seq)) this.entries.push(e);
      }
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    this.bytes = this.entries.reduce((n, e) => n + Buffer.byteLength(e.body), 0);
    // The dropped counts of acks already folded into state.json must not be counted twice.
    this.compact();
  }

  /**
   * Appends a message; `body(seq)` builds it from the newly assigned seq. Returns the entry.
   * Drops the oldest entries when a bound is exceeded.
   */
  append(topic: string, body: (seq: number) => string): OutboxEntry {
    if (this.closed)
      throw new ConfigError({ field: 'outbox', expected: 'an open outbox', received: 'closed' });
    const seq = this.seq + 1;
    const e: OutboxEntry = { seq, t: this.now(), topic, body: body(seq) };
    writeSync(this.logFd, `${JSON.stringify(e)}\n`);
    this.seq = seq;
    this.logLines++;
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
    writeSync(this.ackFd, `${kind} ${seq}\n`);
    if (kind === 'd') this.droppedTotal++;
    this.written();
    // Compact once finished lines dominate, not on every drain: a rewrite costs three fsyncs.
    if (this.logLines > 2 * this.entries.length + 1000) this.compact();
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
    return { pending: this.entries.length, dropped: this.droppedTotal, bytes: this.bytes, lastSeq: this.seq };
  }

  private written(): void {
    if (this.fsyncPolicy === 'always') this.sync();
    else this.dirty = true;
  }

  /** Flushes appended lines to the disk (fsync). */
  sync(): void {
    if (this.closed) return;
    if (this.fsyncPolicy === 'always' || this.dirty) {
      fsyncSync(this.logFd);
      fsyncSync(this.ackFd);
      this.dirty = false;
    }
  }

  /**
   * Rewrites `log` with the pending entries only and empties `acks`. Order matters for crash
   * safety: state.json first (seq and dropped survive), then the new log (by rename), then acks.
   */
  private compact(): void {
    const reopen = this.logFd !== undefined && !this.closed;
    this.writeAtomic('state.json', JSON.stringify({ seq: this.seq, dropped: this.droppedTotal }));
    this.writeAtomic('log', this.entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.writeAtomic('acks', '');
    this.logLines = this.entries.length;
    if (reopen) {
      closeSync(this.logFd);
      closeSync(this.ackFd);
      this.logFd = openSync(join(this.dir, 'log'), 'a');
      this.ackFd = openSync(join(this.dir, 'acks'), 'a');
    }
    this.dirty = false;
  }

  private writeAtomic(name: string, data: string): void {
    const tmp = join(this.dir, `${name}.tmp`);
    writeFileSync(tmp, data);
    if (this.fsyncPolicy !== 'never') {
      const fd = openSync(tmp, 'r+');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, name));
  }

  /** Syncs and closes the files. Pending entries stay on disk for the next process. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    if (this.fsyncPolicy !== 'never') {
      fsyncSync(this.logFd);
      fsyncSync(this.ackFd);
    }
    closeSync(this.logFd);
    closeSync(this.ackFd);
    rmSync(join(this.dir, 'lock'), { force: true });
    OPEN.delete(resolve(this.dir));
    this.closed = true;
  }
}
