/** The three kinds of source: a capture process, a folder of images, a byte stream (stdin). */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_FRAME_LIMITS, readFrameFile, type FrameError } from '../frame.js';
import { MjpegSplitter } from './mjpeg.js';
import type { CommandPlan } from './commands.js';
import { BaseSource, SourceError, type SourceOptions } from './types.js';

const STDERR_KEEP = 2048;

/**
 * A capture program writing MJPEG to stdout. Exits restart with exponential backoff (reset once
 * a frame arrives); a missing program falls through to the next candidate, then fails for good.
 */
export class ProcessSource extends BaseSource {
  /** Restarts so far. */
  restarts = 0;
  /** The program actually running (after candidate fallback). */
  program: string | undefined;
  private proc: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly spawnFn;
  private readonly backoff;

  constructor(
    uri: string,
    readonly plan: CommandPlan,
    private readonly opts: SourceOptions = {},
  ) {
    super(uri, plan.live);
    this.spawnFn = opts.spawn ?? nodeSpawn;
    this.backoff = { initialMs: 250, maxMs: 10_000, factor: 2, maxRestarts: Infinity, ...opts.restart };
  }

  start(): void {
    if (this.proc || this.stopped) return;
    this.launch(0);
  }

  private launch(candidate: number): void {
    const program = this.plan.programs[candidate];
    const splitter = new MjpegSplitter({ maxFrameBytes: this.opts.maxFrameBytes });
    let stderr = '';
    let gotFrame = false;
    let spawnFailed = false;
    let proc: ChildProcess;
    try {
      proc = this.spawnFn(program, this.plan.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.spawnError(candidate, e as NodeJS.ErrnoException);
      return;
    }
    this.proc = proc;
    this.program = program;
    proc.on('error', (e: NodeJS.ErrnoException) => {
      spawnFailed = true;
      this.proc = undefined;
      this.spawnError(candidate, e);
    });
    proc.stdout?.on('data', (chunk: Buffer) => {
      const before = splitter.dropped;
      for (const f of splitter.push(chunk)) {
        gotFrame = true;
        this.pushFrame(f);
      }
      if (splitter.dropped > before) {
        this.fail(
          new SourceError('E_SOURCE_FRAME', {
            field: this.uri,
            expected: 'well-formed JPEG frames',
            received: `${splitter.dropped - before} broken or oversized frame(s)`,
          }),
        );
      }
    });
    if (this.paused) proc.stdout?.pause();
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
    });
    proc.on('close', (code, signal) => {
      if (spawnFailed) return;
      this.proc = undefined;
      if (this.stopped) return this.finish('stopped');
      const why = `${program} exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      if (!this.plan.restart) return this.finish(code === 0 ? 'end of input' : why);
      if (gotFrame) this.attempt = 0;
      this.scheduleRestart(why);
    });
  }

  private spawnError(candidate: number, e: NodeJS.ErrnoException): void {
    if (this.stopped) return this.finish('stopped');
    if (e.code === 'ENOENT' && candidate + 1 < this.plan.programs.length) return this.launch(candidate + 1);
    this.fail(
      new SourceError('E_SOURCE_SPAWN', {
        field: this.uri,
        expected: `one of ${this.plan.programs.join(', ')} on PATH`,
        received: e.message,
      }),
    );
    this.finish(`cannot start ${this.plan.programs.join(' / ')}: ${e.message}`);
  }

  private scheduleRestart(reason: string): void {
    this.attempt++;
    if (this.attempt > this.backoff.maxRestarts) {
      this.fail(
        new SourceError('E_SOURCE_EXIT', {
          field: this.uri,
          expected: `at most ${this.backoff.maxRestarts} restarts without a frame`,
          received: reason,
        }),
      );
      return this.finish(reason);
    }
    const delayMs = Math.min(
      this.backoff.maxMs,
      this.backoff.initialMs * this.backoff.factor ** (this.attempt - 1),
    );
    this.restarts++;
    this.emit('restart', { attempt: this.attempt, delayMs, reason });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.launch(0);
    }, delayMs);
  }

  override pause(): void {
    super.pause();
    this.proc?.stdout?.pause();
  }

  override resume(): void {
    super.resume();
    this.proc?.stdout?.resume();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      this.finish('stopped');
      return;
    }
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => p.kill('SIGKILL'), 2000);
      p.once('close', () => {
        clearTimeout(kill);
        resolve();
      });
      p.stdout?.resume();
      p.kill('SIGTERM');
    });
    this.finish('stopped');
  }
}

/** Image files a folder replay picks up, by extension. */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Replays a folder of images in name order, paced by `fps` when given, paused by backpressure. */
export class DirSource extends BaseSource {
  private wake: (() => void) | undefined;
  private running = false;

  constructor(
    uri: string,
    private readonly dir: string,
    private readonly opts: SourceOptions = {},
  ) {
    super(uri, opts.live ?? false);
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    let files: string[];
    try {
      files = (await readdir(this.dir))
        .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(this.dir, f));
    } catch (e) {
      this.fail(
        new SourceError('E_SOURCE_READ', {
          field: this.uri,
          expected: 'a readable folder',
          received: (e as Error).message,
        }),
      );
      this.finish('unreadable folder');
      return;
    }
    if (files.length === 0) {
      this.fail(
        new SourceError('E_SOURCE_READ', {
          field: this.uri,
          expected: `images (${[...IMAGE_EXTENSIONS].join(' ')})`,
          received: 'an empty folder',
        }),
      );
    }
    const gap = this.opts.fps ? 1000 / this.opts.fps : 0;
    do {
      for (const f of files) {
        while (this.paused && !this.stopped) await new Promise<void>((r) => (this.wake = r));
        if (this.stopped) return this.finish('stopped');
        let data: Buffer;
        try {
          // Regular files only, size checked first: a FIFO, /dev/zero symlink or sparse giant
          // named *.png is one error naming the file, not a hang or a huge read.
          data = await readFrameFile(f, {
            ...DEFAULT_FRAME_LIMITS,
            maxFrameBytes: this.opts.maxFrameBytes ?? DEFAULT_FRAME_LIMITS.maxFrameBytes,
          });
        } catch (e) {
          const fe = e as FrameError;
          this.fail(
            new SourceError('E_SOURCE_READ', {
              field: f,
              expected: fe.expected ?? 'a readable regular image file',
              received: `${fe.received ?? fe.message} (${fe.code})`,
            }),
          );
          continue;
        }
        this.pushFrame(data, f);
        await new Promise((r) => (gap ? setTimeout(r, gap) : setImmediate(r)));
      }
    } while (this.opts.loop && files.length > 0 && !this.stopped);
    this.finish(this.stopped ? 'stopped' : 'end of input');
  }

  override resume(): void {
    super.resume();
    this.wake?.();
    this.wake = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
  }
}

/** MJPEG from a byte stream (stdin by default), e.g. `rpicam-vid -o - | edge-dmp run --source stdin:`. */
export class StreamSource extends BaseSource {
  private readonly splitter: MjpegSplitter;
  private started = false;
  private readonly onData = (chunk: Buffer) => {
    for (const f of this.splitter.push(chunk)) this.pushFrame(f);
  };

  constructor(
    uri: string,
    private readonly stream: Readable,
    opts: SourceOptions = {},
  ) {
    super(uri, opts.live ?? true);
    this.splitter = new MjpegSplitter({ maxFrameBytes: opts.maxFrameBytes });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stream.on('data', this.onData);
    this.stream.once('end', () => this.finish('end of input'));
    this.stream.once('error', (e) => {
      this.fail(
        new SourceError('E_SOURCE_READ', {
          field: this.uri,
          expected: 'a readable stream',
          received: e.message,
        }),
      );
      this.finish(e.message);
    });
    if (this.paused) this.stream.pause();
  }

  override pause(): void {
    super.pause();
    this.stream.pause();
  }

  override resume(): void {
    super.resume();
    if (this.started) this.stream.resume();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.pause();
    this.stream.off('data', this.onData);
    this.finish('stopped');
  }
}
