/**
 * Streaming MJPEG splitter: byte chunks in, whole JPEG frames out. It walks JPEG marker segments
 * (skipping their declared lengths) instead of searching for the first FF D9, so an EOI inside an
 * EXIF thumbnail or a marker split across two chunks cannot cut a frame short.
 */

const SOI = Buffer.from([0xff, 0xd8, 0xff]);

/** Markers followed by a 2-byte segment length. */
const SEGMENT_MARKER = (m: number): boolean =>
  (m >= 0xc0 && m <= 0xcf) || (m >= 0xda && m <= 0xef) || m === 0xfe;

/** States of the parser: looking for SOI, in the marker segments, in entropy-coded data. */
type State = 'seek' | 'markers' | 'scan';

export interface MjpegSplitterOptions {
  /** Frames growing past this many bytes are dropped (bounded memory). Default 16 MiB. */
  maxFrameBytes?: number;
}

/**
 * Splits a byte stream into JPEG frames on SOI/EOI markers.
 *
 * @example
 * const split = new MjpegSplitter();
 * proc.stdout.on('data', (chunk) => split.push(chunk).forEach(onJpeg));
 */
export class MjpegSplitter {
  /** Frames dropped because they outgrew maxFrameBytes or broke the marker structure. */
  dropped = 0;
  /** Bytes skipped between frames (garbage, multipart headers). */
  skippedBytes = 0;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state: State = 'seek';
  private readonly maxFrameBytes: number;

  constructor(opts: MjpegSplitterOptions = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? 16 * 1024 * 1024;
  }

  /** Feeds a chunk; returns the frames it completed (each a standalone Buffer). */
  push(chunk: Uint8Array): Buffer[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const done = this.step();
      if (done === 'more') {
        // A frame that outgrew the limit lost its end: drop it and look for the next SOI in it.
        if (this.state !== 'seek' && this.buf.length > this.maxFrameBytes) {
          this.broken();
          continue;
        }
        break;
      }
      if (done) frames.push(done);
    }
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }

  private reset(from: number): void {
    this.buf = this.buf.subarray(from);
    this.pos = 0;
    this.state = 'seek';
  }

  /**
   * Drops the frame being parsed. The rescan starts right after its SOI, not where parsing
   * stopped: a segment length read from a cut-off frame can point past the next frame's SOI.
   */
  private broken(): null {
    this.dropped++;
    this.reset(2);
    return null;
  }

  /** One parser step: a completed frame, null (progress, no frame) or 'more' (needs bytes). */
  private step(): Buffer | null | 'more' {
    const b = this.buf;
    if (this.state === 'seek') {
      // SOI is FF D8 followed by the next marker's FF.
      let i = b.indexOf(0xff, this.pos);
      while (i !== -1 && i + 2 < b.length && !(b[i + 1] === 0xd8 && b[i + 2] === 0xff))
        i = b.indexOf(0xff, i + 1);
      if (i === -1 || i + 2 >= b.length) {
        // Keep a trailing FF or FF D8: it may be the start of an SOI.
        const keep = i !== -1 ? b.length - i : 0;
        this.skippedBytes += b.length - keep;
        this.buf = b.subarray(b.length - keep);
        this.pos = 0;
        return 'more';
      }
      this.skippedBytes += i;
      this.buf = b.subarray(i);
      this.pos = 2;
      this.state = 'markers';
      return null;
    }
    if (this.state === 'markers') {
      let p = this.pos;
      if (p >= b.length) return 'more';
      // Not a marker where one must be: the frame is broken, resync on the next SOI.
      if (b[p] !== 0xff) return this.broken();
      while (p < b.length && b[p] === 0xff) p++; // fill bytes
      if (p >= b.length) return 'more';
      const m = b[p];
      if (m === 0xd9) return this.emit(p + 1);
      if (m === 0xd8) {
        // A new SOI before this frame ended: drop the partial frame.
        this.dropped++;
        this.reset(p - 1);
        return null;
      }
      if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
        this.pos = p + 1;
        return null;
      }
      // Only SOFn/DHT/DAC, SOS/DQT/DNL/DRI/..., APPn and COM carry a length: anything else here
      // means the walk went off the rails (a cut-off frame).
      if (!SEGMENT_MARKER(m)) return this.broken();
      if (p + 2 >= b.length) return 'more';
      const len = b.readUInt16BE(p + 1);
      // A length byte of FF is the next marker, not a length: this frame was cut off.
      if (len < 2 || b[p + 1] === 0xff) return this.broken();
      const end = p + 1 + len;
      // An SOI inside a table or header segment is the next frame (only APPn/COM may embed a
      // thumbnail): this frame was cut off and its "length" is noise.
      if (!(m >= 0xe0 && m <= 0xef) && m !== 0xfe) {
        const soi = b.subarray(0, Math.min(end, b.length)).indexOf(SOI, p + 3);
        if (soi !== -1) {
          this.dropped++;
          this.reset(soi);
          return null;
        }
      }
      if (end > b.length) {
        if (end > this.maxFrameBytes) return this.broken();
        return 'more';
      }
      this.pos = end;
      if (m === 0xda) this.state = 'scan';
      return null;
    }
    // scan: entropy-coded data; FF 00 is a stuffed byte, FF D0-D7 restart markers.
    let i = b.indexOf(0xff, this.pos);
    while (i !== -1) {
      if (i + 1 >= b.length) break;
      const m = b[i + 1];
      if (m === 0x00 || (m >= 0xd0 && m <= 0xd7) || m === 0xff) {
        i = b.indexOf(0xff, i + 1);
        continue;
      }
      if (m === 0xd9) return this.emit(i + 2);
      // Another segment (progressive JPEG: DHT, SOS...).
      this.pos = i;
      this.state = 'markers';
      return null;
    }
    this.pos = i === -1 ? b.length : i;
    return 'more';
  }

  private emit(end: number): Buffer {
    const frame = Buffer.from(this.buf.subarray(0, end));
    this.reset(end);
    return frame;
  }
}
