/** The one small interface every frame source implements, with typed events. */
import { EventEmitter } from 'node:events';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import { EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/** One frame from a source: encoded bytes (MJPEG sources give JPEG), numbered from 1. */
export interface SourceFrame {
  data: Buffer;
  seq: number;
  /** Epoch milliseconds when the frame was complete. */
  ts: number;
  /** The file the frame came from (file:// folder replay), so per-frame errors can name it. */
  name?: string;
}

export interface RestartInfo {
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface SourceEvents {
  frame: [SourceFrame];
  error: [SourceError];
  restart: [RestartInfo];
  end: [{ reason: string }];
}

export type Flip = 'none' | 'horizontal' | 'vertical' | 'both';

/** The child_process.spawn signature, injectable so command construction is testable without devices. */
export type SpawnFn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

export interface SourceOptions {
  /** Output frame size; sources scale to it (camera sources ask the camera for it). */
  width?: number;
  height?: number;
  /** Frames per second asked of the source. */
  fps?: number;
  flip?: Flip;
  /** Replace child_process.spawn (unit tests of command construction). */
  spawn?: SpawnFn;
  /** The ffmpeg binary (default `ffmpeg` on PATH). */
  ffmpeg?: string;
  /** Restart backoff for sources whose process exits. */
  restart?: { initialMs?: number; maxMs?: number; factor?: number; maxRestarts?: number };
  /** file:// replay: start again at the end instead of ending. */
  loop?: boolean;
  /** file:// video: read at the video's native rate (ffmpeg -re) instead of as fast as consumed. */
  realtime?: boolean;
  /** stdin: the stream to read (default process.stdin). */
  stdin?: Readable;
  /** Treat the source as live (drop stale frames) or as a replay (pause it instead); per-scheme default. */
  live?: boolean;
  /** MJPEG quality for ffmpeg encoders, 2 (best) .. 31. Default 5. */
  quality?: number;
  /** Largest frame accepted from a stream, bytes. Default 16 MiB. */
  maxFrameBytes?: number;
}

/**
 * A camera, stream, file replay or generator that emits encoded frames.
 * `live` sources drop frames when the consumer is slow; replays are paused instead.
 */
export interface FrameSource extends EventEmitter<SourceEvents> {
  readonly uri: string;
  readonly live: boolean;
  /** Frames emitted so far. */
  readonly frames: number;
  start(): void;
  /** Stops for good; resolves when child processes have exited. */
  stop(): Promise<void>;
  /** Backpressure for replays: stop reading until resume(). */
  pause(): void;
  resume(): void;
}

export const SOURCE_ERROR_CODES = {
  E_SOURCE_URI: 'source URI not understood',
  E_SOURCE_SPAWN: 'the capture program could not be started',
  E_SOURCE_EXIT: 'the capture program kept exiting',
  E_SOURCE_READ: 'the source could not be read',
  E_SOURCE_FRAME: 'a frame in the stream was dropped',
} as const;
export type SourceErrorCode = keyof typeof SOURCE_ERROR_CODES;

export class SourceError extends EdgeDmpError {
  constructor(code: SourceErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}

/** Shared plumbing: frame numbering, safe error emission (never an unhandled 'error' throw). */
export abstract class BaseSource extends EventEmitter<SourceEvents> implements FrameSource {
  frames = 0;
  protected stopped = false;
  protected paused = false;

  constructor(
    readonly uri: string,
    readonly live: boolean,
  ) {
    super();
  }

  abstract start(): void;
  abstract stop(): Promise<void>;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  protected pushFrame(data: Buffer, name?: string): void {
    if (this.stopped) return;
    this.frames++;
    this.emit('frame', { data, seq: this.frames, ts: Date.now(), ...(name ? { name } : {}) });
  }

  private ended = false;

  /** Emits 'end' once, whatever path ends the source. */
  protected finish(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end', { reason });
  }

  /** Emits 'error' only when someone listens, so a source error is never an uncaught exception. */
  protected fail(err: SourceError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
