/**
 * Serial reporter: one line per result to a serial port (a microcontroller on a UART/USB-serial),
 * as JSON (the MQTT result payload) or compact `label,score,seq`. In trigger mode the port speaks
 * first: each line it sends requests a classification, answered with one line. The port is reopened
 * after an unplug; lines produced while it is away are queued (bounded, oldest dropped, counted).
 */
import { EventEmitter } from 'node:events';
import { ReadlineParser, SerialPort } from 'serialport';
import { ConfigError, EdgeDmpError } from '@edge-dmp/core';
import {
  createPublishPolicy,
  PAYLOAD_VERSION,
  resultPayload,
  type PublishPolicy,
  type PublishPolicyOptions,
} from './payload.js';
import type { FrameOutcome, Reporter } from './types.js';

/** `json`: the result payload of docs/mqtt.md, one per line. `compact`: `label,score,seq`. */
export type SerialFormat = 'json' | 'compact';

export interface SerialReporterOptions {
  /** Device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/... (stable across replugs). */
  path: string;
  /** Default 115200. */
  baudRate?: number;
  format?: SerialFormat;
  /** deviceId field of JSON lines (default `serial`). */
  deviceId?: string;
  /** Which results are written (not used in trigger mode, where every request is answered). */
  policy?: PublishPolicyOptions;
  /**
   * Trigger mode: lines from the port request a classification. `onTrigger(line)` produces the
   * outcome to send back; without it the newest outcome given to report() is sent.
   */
  trigger?: boolean;
  onTrigger?: (line: string) => FrameOutcome | undefined | Promise<FrameOutcome | undefined>;
  /** Delay between reopen attempts after an unplug or a failed open (default 1000 ms). */
  reopenMs?: number;
  /** Lines kept while the port is closed (default 100). */
  maxQueued?: number;
  /**
   * Wait after a (re)open before writing (default 100 ms): the other end may still be setting its
   * line up (a USB-serial board resetting on open, a pty pair configuring raw mode) and discard
   * what arrives meanwhile. Lines reported during the wait are queued, so order is kept.
   */
  settleMs?: number;
}

export interface SerialReporterEvents {
  open: [];
  /** The port went away (unplug) or could not be opened; a reopen is scheduled. */
  close: [string];
  /** A line from the port (trigger mode or not). */
  line: [string];
  /** A line was written (without the newline). */
  written: [string];
}

export interface SerialStats {
  written: number;
  queued: number;
  droppedWhileClosed: number;
  filtered: number;
  triggers: number;
  opens: number;
}

const FORMATS: Record<SerialFormat, (deviceId: string, seq: number, o: FrameOutcome) => string> = {
  json: (deviceId, seq, o) =>
    JSON.stringify(
      o.ok
        ? resultPayload(deviceId, seq, o)
        : {
            v: PAYLOAD_VERSION,
            deviceId,
            seq,
            ok: false,
            frameId: o.frameId,
            code: o.code,
            reason: o.reason,
          },
    ),
  // Commas in labels would break the CSV for a microcontroller's strtok: they become spaces.
  compact: (_d, seq, o) =>
    o.ok ? `${o.label.replaceAll(',', ' ')},${o.score.toFixed(4)},${seq}` : `!${o.code},0,${seq}`,
};

/**
 * Writes results to a serial port, one line each.
 * @example
 * const serial = new SerialReporter({ path: '/dev/ttyUSB0', baudRate: 115200, format: 'compact' });
 * serial.report(result); // "cat,0.9312,1\n"
 * await serial.close();
 */
export class SerialReporter extends EventEmitter<SerialReporterEvents> implements Reporter {
  readonly name = 'serial';
  readonly path: string;
  private readonly baudRate: number;
  private readonly format: SerialFormat;
  private readonly deviceId: string;
  private readonly policy: PublishPolicy;
  private readonly trigger: boolean;
  private readonly onTrigger: SerialReporterOptions['onTrigger'];
  private readonly reopenMs: number;
  private readonly settleMs: number;
  private readonly maxQueued: number;
  private port: SerialPort | null = null;
  private isOpen = false;
  private queue: string[] = [];
  private seq = 0;
  private latest: FrameOutcome | undefined;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private announced = false;
  private readonly counts = { written: 0, droppedWhileClosed: 0, filtered: 0, triggers: 0, opens: 0 };

  constructor(opts: SerialReporterOptions) {
    super();
    if (!opts || typeof opts.path !== 'string' || !opts.path) {
      throw new ConfigError({ field: 'path', expected: 'a serial device path', received: opts?.path });
    }
    this.path = opts.path;
    this.baudRate = opts.baudRate ?? 115200;
    if (!Number.isInteger(this.baudRate) || this.baudRate < 50 || this.baudRate > 4_000_000) {
      throw new ConfigError({
        field: 'baudRate',
        expected: 'an integer baud rate (50..4000000)',
        received: opts.baudRate,
      });
    }
    this.format = opts.format ?? 'json';
    if (!Object.hasOwn(FORMATS, this.format)) {
      throw new ConfigError({
        field: 'format',
        expected: Object.keys(FORMATS).join(' | '),
        received: opts.format,
      });
    }
    this.deviceId = opts.deviceId ?? 'serial';
    this.policy = createPublishPolicy(opts.policy);
    this.trigger = opts.trigger ?? false;
    this.onTrigger = opts.onTrigger;
    this.reopenMs = opts.reopenMs ?? 1000;
    this.settleMs = opts.settleMs ?? 100;
    this.maxQueued = opts.maxQueued ?? 100;
    this.open();
  }

  /** True while the port is open. */
  get connected(): boolean {
    return this.isOpen;
  }

  stats(): SerialStats {
    return { ...this.counts, queued: this.queue.length };
  }

  private open(): void {
    if (this.closed) return;
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    this.port = port;
    port.on('error', () => undefined); // surfaced through 'close' / the open callback
    port.open((err) => {
      if (this.closed) {
        if (!err) port.close();
        return;
      }
      if (err) return this.lost(port, err.message);
      port.on('close', (e?: Error) => this.lost(port, e?.message ?? 'closed'));
      port
        .pipe(new ReadlineParser({ delimiter: '\n' }))
        .on('data', (l: string) => void this.onLine(l.replace(/\r$/, '')));
      setTimeout(() => {
        // Gone or replaced while settling: lost() has already scheduled the next attempt.
        if (this.closed || port !== this.port || !port.isOpen) return;
        this.isOpen = true;
        this.counts.opens++;
        this.emit('open');
        for (const line of this.queue.splice(0)) this.writeLine(line);
      }, this.settleMs);
    });
  }

  private lost(port: SerialPort, reason: string): void {
    if (port !== this.port) return; // a late event of a port already replaced
    const wasOpen = this.isOpen;
    this.isOpen = false;
    this.port = null;
    if (this.closed) return;
    // Once per outage: when an open port goes away, or when the very first open fails.
    if (wasOpen || (this.counts.opens === 0 && !this.announced)) this.emit('close', reason);
    this.announced = true;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.open();
      }, this.reopenMs);
    }
  }

  private async onLine(line: string): Promise<void> {
    this.emit('line', line);
    if (!this.trigger) return;
    this.counts.triggers++;
    let o: FrameOutcome | undefined;
    try {
      o = this.onTrigger ? await this.onTrigger(line) : this.latest;
    } catch (e) {
      const err = e instanceof EdgeDmpError ? e : null;
      o = {
        ok: false,
        frameId: -1,
        ts: Date.now(),
        code: err?.code ?? 'E_TRIGGER',
        reason: String((e as Error).message),
      };
    }
    o ??= { ok: false, frameId: -1, ts: Date.now(), code: 'E_NO_RESULT', reason: 'no classification yet' };
    this.send(o);
  }

  private send(o: FrameOutcome): void {
    this.seq++;
    const line = FORMATS[this.format](this.deviceId, this.seq, o);
    if (this.isOpen) this.writeLine(line);
    else {
      this.queue.push(line);
      if (this.queue.length > this.maxQueued) {
        this.queue.shift();
        this.counts.droppedWhileClosed++;
      }
    }
  }

  private writeLine(line: string): void {
    this.port?.write(`${line}\n`);
    this.counts.written++;
    this.emit('written', line);
  }

  /** Writes the result (if the policy accepts it); in trigger mode keeps it for the next request. */
  report(outcome: FrameOutcome): void {
    if (this.closed) return;
    if (this.trigger) {
      this.latest = outcome;
      return;
    }
    if (!outcome.ok) return;
    if (!this.policy.accept(outcome)) {
      this.counts.filtered++;
      return;
    }
    this.send(outcome);
  }

  /** Stops reopening, drains the port and closes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const p = this.port;
    if (p && this.isOpen) {
      await new Promise<void>((r) => p.drain(() => r()));
      await new Promise<void>((r) => p.close(() => r()));
    }
    this.isOpen = false;
  }
}
