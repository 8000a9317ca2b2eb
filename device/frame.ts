/**
 * Frames: what `classify(frame)` accepts, and turning any of them into decoded RGB/gray pixels
 * with bounded work. Every way a frame can be bad maps to a `FrameError` with its own code, so
 * the pipeline can report it and carry on.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import sharp, { type Sharp, type FailOnOptions } from 'sharp';
import { EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/** Pixel layouts a raw frame may come in (camera drivers hand out yuyv and nv12). */
export type RawFormat = 'rgb' | 'rgba' | 'bgr' | 'gray' | 'yuyv' | 'nv12';

/** An uncompressed frame, e.g. straight from a V4L2 buffer. */
export interface RawFrame {
  data: Uint8Array;
  width: number;
  height: number;
  format: RawFormat;
}

/** Anything `classify` accepts: encoded bytes (JPEG/PNG/WebP), a raw frame, a file path, or a sharp instance. */
export type Frame = Buffer | Uint8Array | RawFrame | string | Sharp;

/** Machine-readable reasons a frame could not be used. */
export const FRAME_ERROR_CODES = {
  E_FRAME_EMPTY: 'zero-byte frame',
  E_FRAME_FORMAT: 'unsupported image format',
  E_FRAME_TRUNCATED: 'truncated image data',
  E_FRAME_CORRUPT: 'corrupt image data',
  E_FRAME_TOO_LARGE: 'frame larger than the configured limits',
  E_FRAME_INVALID: 'raw frame whose fields do not describe its data',
  E_FRAME_READ: 'frame file that cannot be read',
} as const;
export type FrameErrorCode = keyof typeof FRAME_ERROR_CODES;

/** A frame that cannot be classified; `code` says why (see FRAME_ERROR_CODES). */
export class FrameError extends EdgeDmpError {
  constructor(code: FrameErrorCode, detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}

/** Limits that keep one hostile frame from taking the device's memory. */
export interface FrameLimits {
  /** Largest decoded image, in pixels (sharp `limitInputPixels`). Default 4096*4096. */
  maxInputPixels: number;
  /** Largest encoded frame or frame file, in bytes. Default 32 MiB. */
  maxFrameBytes: number;
  /** sharp `failOn`: 'warning' (default) refuses corrupt JPEG data too, 'truncated' only truncation. */
  failOn: FailOnOptions;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  maxInputPixels: 4096 * 4096,
  maxFrameBytes: 32 * 1024 * 1024,
  failOn: 'warning',
};

/** Decoded pixels, interleaved, 1 (gray), 3 (RGB) or 4 (RGBA) channels. */
export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** Encoded formats accepted, by magic bytes: sharp can read more (SVG, PDF, TIFF...), a camera frame is never one. */
const MAGIC: { format: string; test: (b: Uint8Array) => boolean }[] = [
  { format: 'jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'png', test: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  {
    format: 'webp',
    test: (b) =>
      b.length >= 12 &&
      String.fromCharCode(b[0], b[1], b[2], b[3]) === 'RIFF' &&
      String.fromCharCode(b[8], b[9], b[10], b[11]) === 'WEBP',
  },
];

/**
 * Detects the encoded format from magic bytes; undefined when not JPEG/PNG/WebP.
 * @example sniffFormat(await readFile('cat.jpg')); // 'jpeg'
 */
export function sniffFormat(bytes: Uint8Array): string | undefined {
  return MAGIC.find((m) => m.test(bytes))?.format;
}

/** Bytes per pixel (as a fraction for 4:2:0) and the even-size rule of each raw format. */
const RAW_LAYOUT: Record<RawFormat, { bytes: (w: number, h: number) => number; even: 'none' | 'w' | 'wh' }> =
  {
    rgb: { bytes: (w, h) => w * h * 3, even: 'none' },
    bgr: { bytes: (w, h) => w * h * 3, even: 'none' },
    rgba: { bytes: (w, h) => w * h * 4, even: 'none' },
    gray: { bytes: (w, h) => w * h, even: 'none' },
    yuyv: { bytes: (w, h) => w * h * 2, even: 'w' },
    nv12: { bytes: (w, h) => (w * h * 3) / 2, even: 'wh' },
  };

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** BT.601 limited-range YCbCr -> RGB, the convention of V4L2 webcams and ffmpeg's default. */
function yuvToRgb(out: Buffer, o: number, y: number, u: number, v: number): void {
  const c = 1.164383 * (y - 16);
  const d = u - 128;
  const e = v - 128;
  out[o] = clamp255(c + 1.596027 * e);
  out[o + 1] = clamp255(c - 0.391762 * d - 0.812968 * e);
  out[o + 2] = clamp255(c + 2.017232 * d);
}

const RAW_TO_PIXELS: Record<RawFormat, (f: RawFrame) => Pixels> = {
  rgb: (f) => ({
    data: Buffer.from(f.data.buffer, f.data.byteOffset, f.width * f.height * 3),
    width: f.width,
    height: f.height,
    channels: 3,
  }),
  gray: (f) => ({
    data: Buffer.from(f.data.buffer, f.data.byteOffset, f.width * f.height),
    width: f.width,
    height: f.height,
    channels: 1,
  }),
  rgba: (f) => ({
    data: Buffer.from(f.data.buffer, f.data.byteOffset, f.width * f.height * 4),
    width: f.width,
    height: f.height,
    channels: 4,
  }),
  bgr: (f) => {
    const n = f.width * f.height;
    const out = Buffer.allocUnsafe(n * 3);
    for (let i = 0; i < n * 3; i += 3) {
      out[i] = f.data[i + 2];
      out[i + 1] = f.data[i + 1];
      out[i + 2] = f.data[i];
    }
    return { data: out, width: f.width, height: f.height, channels: 3 };
  },
  yuyv: (f) => {
    // Y0 U Y1 V: two pixels share one chroma pair.
    const n = f.width * f.height;
    const out = Buffer.allocUnsafe(n * 3);
    for (let p = 0, i = 0; p < n; p += 2, i += 4) {
      const u = f.data[i + 1];
      const v = f.data[i + 3];
      yuvToRgb(out, p * 3, f.data[i], u, v);
      yuvToRgb(out, p * 3 + 3, f.data[i + 2], u, v);
    }
    return { data: out, width: f.width, height: f.height, channels: 3 };
  },
  nv12: (f) => {
    // Full Y plane, then interleaved U,V at half resolution in both directions.
    const { width: w, height: h } = f;
    const out = Buffer.allocUnsafe(w * h * 3);
    const uv = w * h;
    for (let y = 0; y < h; y++) {
      const row = uv + (y >> 1) * w;
      for (let x = 0; x < w; x++) {
        const c = row + (x & ~1);
        yuvToRgb(out, (y * w + x) * 3, f.data[y * w + x], f.data[c], f.data[c + 1]);
      }
    }
    return { data: out, width: w, height: h, channels: 3 };
  },
};

function isRawFrame(f: unknown): f is RawFrame {
  return typeof f === 'object' && f !== null && 'format' in f && 'data' in f && 'width' in f && 'height' in f;
}

function isSharp(f: unknown): f is Sharp {
  return (
    typeof f === 'object' &&
    f !== null &&
    typeof (f as Sharp).toBuffer === 'function' &&
    typeof (f as Sharp).metadata === 'function'
  );
}

/**
 * Checks a raw frame's fields against its data (so a wrong size never reads out of bounds) and
 * converts it to gray/RGB/RGBA pixels.
 * @example const px = rawToPixels({ data: v4l2Buffer, width: 640, height: 480, format: 'yuyv' });
 */
export function rawToPixels(f: RawFrame, limits: FrameLimits = DEFAULT_FRAME_LIMITS): Pixels {
  const layout = RAW_LAYOUT[f.format];
  if (!layout) {
    throw new FrameError('E_FRAME_INVALID', {
      field: 'frame.format',
      expected: `one of ${Object.keys(RAW_LAYOUT).join(', ')}`,
      received: f.format,
    });
  }
  for (const k of ['width', 'height'] as const) {
    if (!Number.isInteger(f[k]) || f[k] <= 0) {
      throw new FrameError('E_FRAME_INVALID', {
        field: `frame.${k}`,
        expected: 'a positive integer',
        received: f[k],
      });
    }
  }
  if (f.width * f.height > limits.maxInputPixels) {
    throw new FrameError('E_FRAME_TOO_LARGE', {
      field: 'frame',
      expected: `at most ${limits.maxInputPixels} pixels (maxInputPixels)`,
      received: `${f.width}x${f.height}`,
    });
  }
  if ((layout.even !== 'none' && f.width % 2) || (layout.even === 'wh' && f.height % 2)) {
    throw new FrameError('E_FRAME_INVALID', {
      field: 'frame.width',
      expected: `even width${layout.even === 'wh' ? ' and height' : ''} for ${f.format}`,
      received: `${f.width}x${f.height}`,
    });
  }
  if (!(f.data instanceof Uint8Array)) {
    throw new FrameError('E_FRAME_INVALID', {
      field: 'frame.data',
      expected: 'a Buffer or Uint8Array',
      received: typeof f.data,
    });
  }
  const need = layout.bytes(f.width, f.height);
  if (f.data.byteLength < need) {
    throw new FrameError('E_FRAME_INVALID', {
      field: 'frame.data',
      expected: `${need} bytes for ${f.width}x${f.height} ${f.format}`,
      received: `${f.data.byteLength} bytes`,
    });
  }
  return RAW_TO_PIXELS[f.format](f);
}

/** Maps sharp/libvips error text to a frame error code; first match wins. */
const SHARP_ERRORS: [RegExp, FrameErrorCode][] = [
  [/pixel limit/i, 'E_FRAME_TOO_LARGE'],
  [/buffer is empty/i, 'E_FRAME_EMPTY'],
  [/unsupported image format/i, 'E_FRAME_FORMAT'],
  // Not "Corrupt JPEG data: premature end of data segment": that is damaged data (E_FRAME_CORRUPT).
  [/premature end of JPEG|truncat|read error|unexpected end|not enough data/i, 'E_FRAME_TRUNCATED'],
];

function sharpError(e: unknown, field: string): FrameError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = SHARP_ERRORS.find(([re]) => re.test(msg))?.[1] ?? 'E_FRAME_CORRUPT';
  const first = msg.split('\n')[0];
  return new FrameError(
    code,
    { field, expected: 'a decodable image', received: first },
    `${field}: ${FRAME_ERROR_CODES[code]}: ${first}`,
  );
}

async function decodeSharp(img: Sharp, field: string): Promise<Pixels> {
  try {
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels as 1 | 3 | 4 };
  } catch (e) {
    throw sharpError(e, field);
  }
}

/**
 * Decodes encoded bytes after checking size and magic, so only JPEG/PNG/WebP reach the decoder.
 * @example const px = await decodeEncoded(jpegBytes, { ...DEFAULT_FRAME_LIMITS, maxInputPixels: 1920 * 1080 });
 */
export async function decodeEncoded(
  bytes: Uint8Array,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  field = 'frame',
): Promise<Pixels> {
  if (bytes.byteLength === 0) {
    throw new FrameError('E_FRAME_EMPTY', {
      field,
      expected: 'a JPEG, PNG or WebP image',
      received: '0 bytes',
    });
  }
  if (bytes.byteLength > limits.maxFrameBytes) {
    throw new FrameError('E_FRAME_TOO_LARGE', {
      field,
      expected: `at most ${limits.maxFrameBytes} bytes (maxFrameBytes)`,
      received: `${bytes.byteLength} bytes`,
    });
  }
  if (!sniffFormat(bytes)) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new FrameError('E_FRAME_FORMAT', {
      field,
      expected: 'a JPEG, PNG or WebP image',
      received: `bytes ${head}...`,
    });
  }
  const img = sharp(bytes, {
    failOn: limits.failOn,
    limitInputPixels: limits.maxInputPixels,
    sequentialRead: true,
  });
  // Rotate by EXIF orientation so phone photos classify upright.
  return decodeSharp(img.rotate(), field);
}

/**
 * Decodes any accepted frame into interleaved pixels.
 *
 * @throws FrameError with a code from FRAME_ERROR_CODES.
 * @example
 * const px = await decodeFrame({ data, width: 640, height: 480, format: 'yuyv' });
 * px.channels; // 3
 */
export async function decodeFrame(frame: Frame, limits: FrameLimits = DEFAULT_FRAME_LIMITS): Promise<Pixels> {
  if (typeof frame === 'string') return decodeEncoded(await readFrameFile(frame, limits), limits, frame);
  if (frame instanceof Uint8Array) return decodeEncoded(frame, limits);
  if (isRawFrame(frame)) return rawToPixels(frame, limits);
  if (isSharp(frame)) return decodeSharp(frame, 'frame');
  throw new FrameError('E_FRAME_INVALID', {
    field: 'frame',
    expected: 'a Buffer, a raw frame {data,width,height,format}, a file path or a sharp instance',
    received: frame === null ? 'null' : typeof frame,
  });
}

/** What a non-regular file is, for the error (fs.Stats type checks in a table). */
const SPECIAL_KINDS: Array<[string, (st: Stats) => boolean]> = [
  ['a FIFO', (st) => st.isFIFO()],
  ['a character device', (st) => st.isCharacterDevice()],
  ['a block device', (st) => st.isBlockDevice()],
  ['a socket', (st) => st.isSocket()],
  ['a directory', (st) => st.isDirectory()],
];

/**
 * Reads one frame file, refusing anything but a regular file of at most `maxFrameBytes`: the file
 * is opened non-blocking (a FIFO cannot hang the open), its type and size are taken from the open
 * descriptor (a symlink to /dev/zero is seen as the device it is, with no window to swap it), and
 * at most the size it had is read (a growing file cannot grow the read).
 *
 * @throws FrameError E_FRAME_READ (unreadable or not a regular file) or E_FRAME_TOO_LARGE.
 * @example const bytes = await readFrameFile('frames/0001.png');
 */
export async function readFrameFile(
  path: string,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
): Promise<Buffer> {
  const refuse = (received: string) =>
    new FrameError('E_FRAME_READ', { field: path, expected: 'a readable regular image file', received });
  let fh: FileHandle;
  try {
    fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    throw refuse((e as Error).message);
  }
  try {
    const st = await fh.stat();
    const special = SPECIAL_KINDS.find(([, is]) => is(st));
    if (special || !st.isFile()) throw refuse(special ? special[0] : 'not a regular file');
    if (st.size > limits.maxFrameBytes) {
      throw new FrameError('E_FRAME_TOO_LARGE', {
        field: path,
        expected: `at most ${limits.maxFrameBytes} bytes (maxFrameBytes)`,
        received: `${st.size} bytes`,
      });
    }
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  } catch (e) {
    if (e instanceof FrameError) throw e;
    throw refuse((e as Error).message);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
