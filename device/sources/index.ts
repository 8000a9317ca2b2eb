/** Frame sources selected by URI, as jetson-inference does (`v4l2:///dev/video0`, `csi://0`, ...). */
import { statSync } from 'node:fs';
import { ConfigError } from '@edge-dmp/core';
import { buildCommand, parseSourceUri } from './commands.js';
import { DirSource, ProcessSource, StreamSource } from './sources.js';
import type { FrameSource, SourceOptions } from './types.js';

export { MjpegSplitter, type MjpegSplitterOptions } from './mjpeg.js';
export {
  parseSourceUri,
  buildCommand,
  SOURCE_COMMANDS,
  type Scheme,
  type ParsedSourceUri,
  type CommandPlan,
} from './commands.js';
export { ProcessSource, DirSource, StreamSource, IMAGE_EXTENSIONS } from './sources.js';
export {
  BaseSource,
  SourceError,
  SOURCE_ERROR_CODES,
  type FrameSource,
  type SourceEvents,
  type SourceFrame,
  type SourceOptions,
  type RestartInfo,
  type Flip,
  type SpawnFn,
} from './types.js';

function checkOptions(o: SourceOptions): void {
  for (const k of ['width', 'height', 'fps'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0 || (k !== 'fps' && !Number.isInteger(v)))) {
      throw new ConfigError({
        field: `--${k}`,
        expected: k === 'fps' ? 'a positive number' : 'a positive integer',
        received: v,
      });
    }
  }
  if (o.flip !== undefined && !['none', 'horizontal', 'vertical', 'both'].includes(o.flip)) {
    throw new ConfigError({
      field: '--flip',
      expected: 'none | horizontal | vertical | both',
      received: o.flip,
    });
  }
}

/**
 * Creates (does not start) the source for a URI.
 *
 * @example
 * const src = createSource('testsrc:', { width: 320, height: 240, fps: 15 });
 * src.on('frame', (f) => console.log(f.seq, f.data.length));
 * src.start();
 * @example createSource('file:///data/frames');   // a folder of JPEG/PNG/WebP, replayed in name order
 * @example createSource('rtsp://cam.local/stream'); // ffmpeg, restarted with backoff when it drops
 */
export function createSource(uri: string, opts: SourceOptions = {}): FrameSource {
  checkOptions(opts);
  const u = parseSourceUri(uri);
  if (u.scheme === 'stdin') return new StreamSource(uri, opts.stdin ?? process.stdin, opts);
  if (u.scheme === 'file') {
    let isDir: boolean;
    try {
      isDir = statSync(u.target).isDirectory();
    } catch (e) {
      throw new ConfigError({
        field: '--source',
        expected: 'an existing folder or video file',
        received: (e as Error).message,
      });
    }
    if (isDir) return new DirSource(uri, u.target, opts);
  }
  return new ProcessSource(uri, buildCommand(u, opts), opts);
}
