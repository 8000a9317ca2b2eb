/**
 * source -> classifier -> reporters. Live sources get latest-frame-wins backpressure: while the
 * classifier is busy (or waiting for the fps cap) only the newest frame is kept, older ones are
 * dropped and counted, so latency never grows with a queue. Replays (files) are paused instead, so
 * every frame is classified. Memory is bounded: one pending frame (live) or one chunk's frames (replay).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '@edge-dmp/core';
import type { FrameMeta } from './classifier.js';
import type { Frame } from './frame.js';
import type { FrameSource, RestartInfo, SourceError, SourceFrame } from './sources/types.js';
import type { FrameOutcome, PipelineStats, Reporter } from './types.js';

/** What the pipeline needs of a classifier (device/classifier.ts's Classifier fits). */
export interface FrameClassifier {
  tryClassify(frame: Frame, meta: FrameMeta): Promise<FrameOutcome>;
}

export interface PipelineOptions {
  source: FrameSource;
  classifier: FrameClassifier;
  reporters?: Reporter[];
  /** Classify at most this many frames per second (0 or undefined: as fast as the classifier goes). */
  fps?: number;
  /** Stop after this many outcomes (results + failures). */
  maxFrames?: number;
  /** How often reporters get `metrics(stats)` and 'stats' is emitted; 0 turns it off. Default 10000. */
  statsIntervalMs?: number;
  /** Close the reporters when the pipeline ends. Default true. */
  closeReporters?: boolean;
}

/** PipelineStats plus the pipeline's own detail. */
export interface PipelineStatsDetail extends PipelineStats {
  /** Frames dropped because the classifier was busy / because of the fps cap. */
  droppedBusy: number;
  droppedFps: number;
  /** Frames ignored while paused. */
  ignoredPaused: number;
  sourceRestarts: number;
  paused: boolean;
  fpsCap: number;
  /** Outcomes whose reporter call failed (reporters should not throw). */
  reporterErrors: number;
}

export interface PipelineEvents {
  result: [FrameOutcome];
  drop: [{ frameId: number; reason: 'busy' | 'fps' }];
  stats: [PipelineStatsDetail];
  error: [Error];
  restart: [RestartInfo];
  end: [{ reason: string; stats: PipelineStatsDetail }];
}

interface Pending {
  frame: SourceFrame;
  frameId: number;
}

const LATENCY_WINDOW = 512;
const FPS_WINDOW_MS = 5000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function checkFps(v: number | undefined, field: string): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(v) || v < 0)
    throw new ConfigError({ field, expected: 'a number >= 0 (0 = uncapped)', received: v });
  return v;
}

/**
 * Runs frames from a source through a classifier to reporters.
 *
 * @example
 * const p = new Pipeline({ source: createSource('testsrc:'), classifier, reporters: [jsonLinesReporter()], fps: 10 });
 * p.on('result', (o) => o.ok && console.log(o.label));
 * const stats = await p.run(); // until the source ends or stop()
 */
export class Pipeline extends EventEmitter<PipelineEvents> {
  private readonly source: FrameSource;
  private readonly classifier: FrameClassifier;
  private readonly reporters: Reporter[];
  private readonly maxFrames: number;
  private readonly closeReporters: boolean;
  private readonly statsIntervalMs: number;
  private fpsCap: number;
  private pending: Pending | undefined;
  private readonly queue: Pending[] = [];
  private busy = false;
  private isPaused = false;
  private started = false;
  private ending: string | undefined;
  private sourceEnded = false;
  private nextAllowed = 0;
  private fpsTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readonly latencies: number[] = [];
  private readonly completions: number[] = [];
  private readonly counts = {
    frames: 0,
    classified: 0,
    errors: 0,
    droppedBusy: 0,
    droppedFps: 0,
    ignoredPaused: 0,
    sourceRestarts: 0,
    reporterErrors: 0,
  };
  private resolveDone!: (s: PipelineStatsDetail) => void;
  /** Resolves with the final stats when the pipeline has ended. */
  readonly done: Promise<PipelineStatsDetail>;

  constructor(opts: PipelineOptions) {
    super();
    this.source = opts.source;
    this.classifier = opts.classifier;
    this.reporters = opts.reporters ?? [];
    this.fpsCap = checkFps(opts.fps, 'fps');
    const mf = opts.maxFrames ?? Infinity;
    if (!(mf === Infinity || (Number.isInteger(mf) && mf > 0))) {
      throw new ConfigError({ field: 'maxFrames', expected: 'a positive integer', received: opts.maxFrames });
    }
    this.maxFrames = mf;
    this.closeReporters = opts.closeReporters ?? true;
    this.statsIntervalMs = opts.statsIntervalMs ?? 10_000;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Starts the source; frames flow until the source ends, maxFrames is reached or stop(). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = performance.now();
    this.source.on('frame', this.onFrame);
    this.source.on('end', this.onSourceEnd);
    this.source.on('error', this.onSourceError);
    this.source.on('restart', this.onRestart);
    if (this.statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => void this.publishStats(), this.statsIntervalMs);
    }
    this.source.start();
  }

  /** start() and wait for the end. */
  async run(): Promise<PipelineStatsDetail> {
    this.start();
    return this.done;
  }

  /** Stops the source, lets the frame in flight finish, closes reporters; returns the final stats. */
  async stop(reason = 'stopped'): Promise<PipelineStatsDetail> {
    if (!this.started) this.started = true;
    this.beginEnd(reason);
    return this.done;
  }

  /** Stops classifying; live frames arriving meanwhile are ignored, replays are paused (nothing lost). */
  pause(): void {
    this.isPaused = true;
    this.pending = undefined;
    if (!this.source.live) this.source.pause();
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.source.resume();
    this.pump();
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Changes the fps cap at run time (0: uncapped). */
  setFps(fps: number): void {
    this.fpsCap = checkFps(fps, 'fps');
    this.nextAllowed = 0;
    if (this.fpsTimer) {
      clearTimeout(this.fpsTimer);
      this.fpsTimer = undefined;
    }
    this.pump();
  }

  /** Current statistics. */
  stats(): PipelineStatsDetail {
    const now = performance.now();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    while (this.completions.length && this.completions[0] < now - FPS_WINDOW_MS) this.completions.shift();
    const windowS = Math.min(FPS_WINDOW_MS, now - this.startedAt) / 1000;
    const c = this.counts;
    return {
      frames: c.frames,
      classified: c.classified,
      dropped: c.droppedBusy + c.droppedFps,
      errors: c.errors,
      fps: windowS > 0 ? this.completions.length / windowS : 0,
      latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95) },
      uptimeS: this.started ? (now - this.startedAt) / 1000 : 0,
      droppedBusy: c.droppedBusy,
      droppedFps: c.droppedFps,
      ignoredPaused: c.ignoredPaused,
      sourceRestarts: c.sourceRestarts,
      paused: this.isPaused,
      fpsCap: this.fpsCap,
      reporterErrors: c.reporterErrors,
    };
  }

  private readonly onFrame = (frame: SourceFrame): void => {
    if (this.ending) return;
    // Live frames arriving while paused are stale by the time of resume(); a replay's are kept.
    if (this.isPaused && this.source.live) {
      this.counts.ignoredPaused++;
      return;
    }
    const item = { frame, frameId: ++this.counts.frames };
    if (this.source.live) {
      if (this.pending) this.drop(this.pending, this.busy ? 'busy' : 'fps');
      this.pending = item;
    } else {
      this.queue.push(item);
      // Replays wait instead of dropping: hold the source while work is queued.
      this.source.pause();
    }
    this.pump();
  };

  private drop(p: Pending, reason: 'busy' | 'fps'): void {
    if (reason === 'busy') this.counts.droppedBusy++;
    else this.counts.droppedFps++;
    this.emit('drop', { frameId: p.frameId, reason });
  }

  private readonly onSourceEnd = (): void => {
    this.sourceEnded = true;
    if (!this.busy && !this.pending && this.queue.length === 0) this.beginEnd('source ended');
    else this.pump();
  };

  private readonly onSourceError = (e: SourceError): void => {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  };

  private readonly onRestart = (r: RestartInfo): void => {
    this.counts.sourceRestarts++;
    this.emit('restart', r);
  };

  private next(): Pending | undefined {
    if (this.source.live) {
      const p = this.pending;
      this.pending = undefined;
      return p;
    }
    return this.queue.shift();
  }

  private pump(): void {
    if (this.busy || this.ending || this.isPaused) return;
    const has = this.source.live ? this.pending !== undefined : this.queue.length > 0;
    if (!has) {
      if (this.sourceEnded) this.beginEnd('source ended');
      else if (!this.source.live) this.source.resume();
      return;
    }
    const now = performance.now();
    if (this.fpsCap > 0 && now < this.nextAllowed) {
      this.fpsTimer ??= setTimeout(() => {
        this.fpsTimer = undefined;
        this.pump();
      }, this.nextAllowed - now);
      return;
    }
    const item = this.next()!;
    this.busy = true;
    this.nextAllowed = this.fpsCap > 0 ? Math.max(now, this.nextAllowed) + 1000 / this.fpsCap : 0;
    void this.process(item);
  }

  private async process(item: Pending): Promise<void> {
    let outcome: FrameOutcome;
    try {
      outcome = await this.classifier.tryClassify(item.frame.data, {
        frameId: item.frameId,
        ts: item.frame.ts,
      });
    } catch (e) {
      // tryClassify should not throw; a classifier that does still must not stop the pipeline.
      outcome = {
        ok: false,
        frameId: item.frameId,
        ts: item.frame.ts,
        code: 'E_CLASSIFY',
        reason: (e as Error).message,
      };
    }
    if (outcome.ok) this.counts.classified++;
    else this.counts.errors++;
    // A file:// replay names the file, so a bad frame in a folder of thousands can be found.
    if (!outcome.ok && item.frame.name && !outcome.reason.includes(item.frame.name))
      outcome = { ...outcome, reason: `${item.frame.name}: ${outcome.reason}` };
    const done = performance.now();
    this.completions.push(done);
    if (this.completions.length > 4096) this.completions.shift();
    this.latencies.push(Math.max(0, Date.now() - item.frame.ts));
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    this.emit('result', outcome);
    for (const r of this.reporters) this.callReporter(() => r.report(outcome));
    this.busy = false;
    if (this.counts.classified + this.counts.errors >= this.maxFrames) {
      this.beginEnd('max frames');
      return;
    }
    if (this.ending) return void this.finish();
    this.pump();
  }

  private callReporter(call: () => void | Promise<void>): void {
    try {
      const r = call();
      if (r && typeof (r as Promise<void>).catch === 'function') {
        (r as Promise<void>).catch((e: Error) => this.reporterFailed(e));
      }
    } catch (e) {
      this.reporterFailed(e as Error);
    }
  }

  private reporterFailed(e: Error): void {
    this.counts.reporterErrors++;
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  private async publishStats(): Promise<void> {
    const s = this.stats();
    this.emit('stats', s);
    for (const r of this.reporters) if (r.metrics) this.callReporter(() => r.metrics!(s));
  }

  private beginEnd(reason: string): void {
    if (this.ending) return;
    this.ending = reason;
    if (this.fpsTimer) clearTimeout(this.fpsTimer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.pending = undefined;
    this.queue.length = 0;
    this.source.off('frame', this.onFrame);
    if (!this.busy) void this.finish();
  }

  private finishing = false;

  private async finish(): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    await this.source.stop().catch(() => undefined);
    this.source.off('end', this.onSourceEnd);
    this.source.off('error', this.onSourceError);
    this.source.off('restart', this.onRestart);
    const final = this.stats();
    for (const r of this.reporters) if (r.metrics) this.callReporter(() => r.metrics!(final));
    if (this.closeReporters) {
      await Promise.all(this.reporters.map((r) => r.close().catch((e: Error) => this.reporterFailed(e))));
    }
    this.emit('end', { reason: this.ending ?? 'stopped', stats: final });
    this.resolveDone(final);
  }
}

/**
 * A reporter that writes each outcome as one JSON line (stdout by default).
 * @example new Pipeline({ source, classifier, reporters: [jsonLinesReporter()] });
 */
export function jsonLinesReporter(
  out: { write(s: string): unknown } = process.stdout,
  opts: { metrics?: boolean } = {},
): Reporter {
  return {
    name: 'jsonl',
    report(o) {
      out.write(`${JSON.stringify(o)}\n`);
    },
    metrics: opts.metrics
      ? (s) => {
          out.write(`${JSON.stringify({ type: 'metrics', ...s })}\n`);
        }
      : undefined,
    async close() {},
  };
}
