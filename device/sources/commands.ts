/**
 * Source URIs and the capture command for each scheme, as one table: what runs for
 * `v4l2:///dev/video0`, `rpicam:`, `csi://0`, `rtsp://`, `http(s)://`, a `file://` video and
 * `testsrc:`. Every command writes MJPEG to stdout; the splitter cuts it into frames.
 */
import { ConfigError } from '@edge-dmp/core';
import type { Flip, SourceOptions } from './types.js';

export type Scheme = 'v4l2' | 'rpicam' | 'csi' | 'rtsp' | 'http' | 'https' | 'file' | 'testsrc' | 'stdin';

export interface ParsedSourceUri {
  scheme: Scheme;
  /** Device path, camera index, URL or file path, per scheme. */
  target: string;
  params: URLSearchParams;
  uri: string;
}

/** What to spawn: the first program found among `programs`, with `args`. */
export interface CommandPlan {
  programs: string[];
  args: string[];
  /** Restart with backoff when the process exits (cameras, streams); replays just end. */
  restart: boolean;
  live: boolean;
}

const SCHEMES: Scheme[] = ['v4l2', 'rpicam', 'csi', 'rtsp', 'http', 'https', 'file', 'testsrc', 'stdin'];

/**
 * Splits a source URI into scheme, target and query parameters.
 * @example parseSourceUri('v4l2:///dev/video0').target; // '/dev/video0'
 */
export function parseSourceUri(uri: string): ParsedSourceUri {
  const m = /^([a-z0-9]+):(.*)$/i.exec(uri ?? '');
  const scheme = m?.[1].toLowerCase() as Scheme | undefined;
  if (!m || !scheme || !SCHEMES.includes(scheme)) {
    throw new ConfigError({
      field: '--source',
      expected: `a URI with scheme ${SCHEMES.map((s) => `${s}:`).join(', ')}`,
      received: uri,
    });
  }
  let rest = m[2];
  if (scheme === 'rtsp' || scheme === 'http' || scheme === 'https') {
    return { scheme, target: uri, params: new URLSearchParams(), uri };
  }
  const q = rest.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  if (q >= 0) rest = rest.slice(0, q);
  if (rest.startsWith('//')) rest = rest.slice(2);
  let target = decodeURIComponent(rest);
  if (scheme === 'v4l2' && /^\d+$/.test(target)) target = `/dev/video${target}`;
  if ((scheme === 'csi' || scheme === 'rpicam') && target === '') target = '0';
  if ((scheme === 'csi' || scheme === 'rpicam') && !/^\d+$/.test(target)) {
    throw new ConfigError({ field: '--source', expected: `${scheme}:<camera index>`, received: uri });
  }
  if ((scheme === 'v4l2' || scheme === 'file') && target === '') {
    throw new ConfigError({ field: '--source', expected: `${scheme}://<path>`, received: uri });
  }
  return { scheme, target, params, uri };
}

const FFMPEG_FLIP: Record<Flip, string[]> = {
  none: [],
  horizontal: ['hflip'],
  vertical: ['vflip'],
  both: ['hflip', 'vflip'],
};

/** nvvidconv flip-method values (0 none, 2 rotate 180, 4 horizontal, 6 vertical). */
const NVVIDCONV_FLIP: Record<Flip, number> = { none: 0, both: 2, horizontal: 4, vertical: 6 };

const RPICAM_FLIP: Record<Flip, string[]> = {
  none: [],
  horizontal: ['--hflip'],
  vertical: ['--vflip'],
  both: ['--hflip', '--vflip'],
};

function ffmpegHead(): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-nostdin'];
}

/** ffmpeg output side: optional fps/scale/flip filters, then MJPEG on stdout. */
function ffmpegTail(o: SourceOptions, withFps: boolean): string[] {
  const vf: string[] = [];
  if (withFps && o.fps) vf.push(`fps=${o.fps}`);
  if (o.width || o.height) vf.push(`scale=${o.width ?? -2}:${o.height ?? -2}`);
  vf.push(...FFMPEG_FLIP[o.flip ?? 'none']);
  return [
    ...(vf.length ? ['-vf', vf.join(',')] : []),
    '-an',
    '-f',
    'mjpeg',
    '-q:v',
    String(o.quality ?? 5),
    'pipe:1',
  ];
}

type Builder = (u: ParsedSourceUri, o: SourceOptions) => CommandPlan;

/** The command table: one entry per process-backed scheme. */
export const SOURCE_COMMANDS: Partial<Record<Scheme, Builder>> = {
  v4l2: (u, o) => ({
    programs: [o.ffmpeg ?? 'ffmpeg'],
    args: [
      ...ffmpegHead(),
      '-f',
      'v4l2',
      ...(o.fps ? ['-framerate', String(o.fps)] : []),
      ...(o.width && o.height ? ['-video_size', `${o.width}x${o.height}`] : []),
      '-i',
      u.target,
      ...ffmpegTail(o, false),
    ],
    restart: true,
    live: true,
  }),
  rpicam: (u, o) => ({
    // Bookworm ships rpicam-vid; Bullseye's name was libcamera-vid.
    programs: ['rpicam-vid', 'libcamera-vid'],
    args: [
      '-t',
      '0',
      '-n',
      '--camera',
      u.target,
      '--codec',
      'mjpeg',
      ...(o.width ? ['--width', String(o.width)] : []),
      ...(o.height ? ['--height', String(o.height)] : []),
      ...(o.fps ? ['--framerate', String(o.fps)] : []),
      ...RPICAM_FLIP[o.flip ?? 'none'],
      '-o',
      '-',
    ],
    restart: true,
    live: true,
  }),
  csi: (u, o) => ({
    programs: ['gst-launch-1.0'],
    args: [
      '-q',
      'nvarguscamerasrc',
      `sensor-id=${u.target}`,
      '!',
      `video/x-raw(memory:NVMM),width=${o.width ?? 1280},height=${o.height ?? 720},framerate=${o.fps ?? 30}/1`,
      '!',
      'nvvidconv',
      `flip-method=${NVVIDCONV_FLIP[o.flip ?? 'none']}`,
      '!',
      'video/x-raw,format=I420',
      '!',
      'jpegenc',
      '!',
      'fdsink',
      'fd=1',
    ],
    restart: true,
    live: true,
  }),
  rtsp: (u, o) => ({
    programs: [o.ffmpeg ?? 'ffmpeg'],
    args: [...ffmpegHead(), '-rtsp_transport', 'tcp', '-i', u.target, ...ffmpegTail(o, true)],
    restart: true,
    live: true,
  }),
  http: (u, o) => ({
    programs: [o.ffmpeg ?? 'ffmpeg'],
    args: [...ffmpegHead(), '-i', u.target, ...ffmpegTail(o, true)],
    restart: true,
    live: true,
  }),
  https: (u, o) => SOURCE_COMMANDS.http!(u, o),
  file: (u, o) => ({
    programs: [o.ffmpeg ?? 'ffmpeg'],
    args: [...ffmpegHead(), ...(o.realtime ? ['-re'] : []), '-i', u.target, ...ffmpegTail(o, true)],
    restart: o.loop ?? false,
    live: o.live ?? false,
  }),
  testsrc: (u, o) => {
    const pattern = u.params.get('pattern') ?? 'testsrc';
    const duration = u.params.get('duration');
    const spec = `${pattern}=size=${o.width ?? 320}x${o.height ?? 240}:rate=${o.fps ?? 30}${duration ? `:duration=${duration}` : ''}`;
    return {
      programs: [o.ffmpeg ?? 'ffmpeg'],
      // -re paces the generator like a camera.
      args: [
        ...ffmpegHead(),
        '-re',
        '-f',
        'lavfi',
        '-i',
        spec,
        ...ffmpegTail({ ...o, width: undefined, height: undefined }, false),
      ],
      restart: true,
      live: true,
    };
  },
};

/**
 * The command a process-backed source will run (for logs, dry runs and tests).
 * @example buildCommand(parseSourceUri('testsrc:'), { fps: 5 }).programs[0]; // 'ffmpeg'
 */
export function buildCommand(u: ParsedSourceUri, o: SourceOptions): CommandPlan {
  const b = SOURCE_COMMANDS[u.scheme];
  if (!b) {
    throw new ConfigError({ field: '--source', expected: 'a process-backed scheme', received: u.scheme });
  }
  const plan = b(u, o);
  if (o.live !== undefined) plan.live = o.live;
  return plan;
}
