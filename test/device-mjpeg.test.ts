/** The streaming MJPEG splitter on real ffmpeg MJPEG, at every chunking, with the awkward cases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { MjpegSplitter } from '../device/index.js';

/** Ten real MJPEG frames from ffmpeg's testsrc. */
function ffmpegMjpeg(frames = 10, size = '96x64'): Buffer {
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${size}:rate=10`,
    '-frames:v',
    String(frames),
    '-f',
    'mjpeg',
    '-q:v',
    '5',
    'pipe:1',
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

/** Reference split: every FF D8 FF that starts a frame (ffmpeg frames hold no thumbnails). */
function soiOffsets(b: Buffer): number[] {
  const out: number[] = [];
  for (
    let i = b.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
    i !== -1;
    i = b.indexOf(Buffer.from([0xff, 0xd8, 0xff]), i + 3)
  )
    out.push(i);
  return out;
}

function feed(s: MjpegSplitter, data: Buffer, chunk: (i: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < data.length; k++) {
    const n = Math.max(1, chunk(k));
    out.push(...s.push(data.subarray(i, i + n)));
    i += n;
  }
  return out;
}

test('splits a real ffmpeg MJPEG stream identically at every chunk size, including 1 byte', async () => {
  const stream = ffmpegMjpeg();
  const starts = soiOffsets(stream);
  assert.equal(starts.length, 10);
  const expected = starts.map((s, i) => stream.subarray(s, starts[i + 1] ?? stream.length));
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  const chunkings: [string, (k: number) => number][] = [
    ['whole', () => stream.length],
    ['1 byte', () => 1],
    ['2 bytes', () => 2],
    ['7 bytes', () => 7],
    ['4096', () => 4096],
    ['random 1..3000', () => 1 + (rand() % 3000)],
  ];
  for (const [name, chunk] of chunkings) {
    const s = new MjpegSplitter();
    const frames = feed(s, stream, chunk);
    assert.equal(frames.length, 10, name);
    frames.forEach((f, i) => assert.ok(f.equals(expected[i]), `${name}: frame ${i}`));
    assert.equal(s.pending, 0, name);
    assert.equal(s.dropped, 0, name);
  }
  // Every frame decodes.
  const first = new MjpegSplitter().push(stream)[3];
  const meta = await sharp(first).metadata();
  assert.equal(meta.width, 96);
  assert.equal(meta.height, 64);
});

test('skips garbage and multipart headers between frames', () => {
  const stream = ffmpegMjpeg(3);
  const starts = soiOffsets(stream);
  const frames = starts.map((s, i) => stream.subarray(s, starts[i + 1] ?? stream.length));
  const parts: Buffer[] = [Buffer.from('leading junk \xff\xff\x00')];
  for (const f of frames) {
    parts.push(
      Buffer.from(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${f.length}\r\n\r\n`),
      f,
      Buffer.from('\r\n'),
    );
  }
  const s = new MjpegSplitter();
  const out = feed(s, Buffer.concat(parts), () => 5);
  assert.equal(out.length, 3);
  out.forEach((f, i) => assert.ok(f.equals(frames[i])));
  assert.ok(s.skippedBytes > 100);
});

test('an EOI inside an APP1 thumbnail does not end the frame; progressive JPEGs (many SOS) stay whole', async () => {
  const base = ffmpegMjpeg(1);
  // APP1 segment whose payload is a fake thumbnail: FF D8 ... FF D9.
  const payload = Buffer.concat([
    Buffer.from('Exif\0\0'),
    Buffer.from([0xff, 0xd8, 0xff, 0xd9, 0x12, 0x34, 0xff, 0xd9]),
  ]);
  const app1 = Buffer.concat([
    Buffer.from([0xff, 0xe1]),
    Buffer.from([(payload.length + 2) >> 8, (payload.length + 2) & 0xff]),
    payload,
  ]);
  const withThumb = Buffer.concat([base.subarray(0, 2), app1, base.subarray(2)]);
  const out = feed(new MjpegSplitter(), Buffer.concat([withThumb, withThumb]), () => 3);
  assert.equal(out.length, 2);
  assert.ok(out[0].equals(withThumb));
  assert.equal((await sharp(out[0]).metadata()).width, 96);

  const prog = await sharp({
    create: {
      width: 64,
      height: 48,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  })
    .jpeg({ progressive: true })
    .toBuffer();
  let sos = 0;
  for (let i = 0; i < prog.length - 1; i++) if (prog[i] === 0xff && prog[i + 1] === 0xda) sos++;
  assert.ok(sos > 1, 'progressive JPEG has several scans');
  const p = feed(new MjpegSplitter(), Buffer.concat([prog, prog, prog]), () => 11);
  assert.equal(p.length, 3);
  for (const f of p) assert.ok(f.equals(prog));
});

test('a frame cut short by the next SOI, or one past maxFrameBytes, is dropped and counted', () => {
  const stream = ffmpegMjpeg(3);
  const starts = soiOffsets(stream);
  const f = starts.map((s, i) => stream.subarray(s, starts[i + 1] ?? stream.length));
  const cut = Buffer.concat([f[0], f[1].subarray(0, 400), f[2]]);
  const s = new MjpegSplitter();
  const out = feed(s, cut, () => 64);
  assert.equal(out.length, 2);
  assert.ok(out[0].equals(f[0]) && out[1].equals(f[2]));
  assert.equal(s.dropped, 1);

  const small = new MjpegSplitter({ maxFrameBytes: Math.floor(f[1].length / 2) });
  const o2 = feed(small, Buffer.concat([f[1], f[1]]), () => 100);
  assert.equal(o2.length, 0);
  assert.ok(small.dropped >= 1);
  assert.ok(small.pending <= f[1].length / 2 + 100, `bounded: ${small.pending}`);
});

test('a frame cut off at any byte: the stream recovers at every cut position, the very next frame at >= 99%', () => {
  const good = ffmpegMjpeg(1);
  let exact = 0;
  for (let cut = 3; cut < good.length - 2; cut++) {
    const s = new MjpegSplitter();
    const out = feed(s, Buffer.concat([good.subarray(0, cut), good, good]), () => 512);
    // The frame after the cut comes out whole at almost every cut position; at a few, the cut-off
    // frame's segment walk lands on a marker inside it and a spliced (undecodable) frame comes out
    // instead; the frame after that is always whole.
    const whole = out.filter((f) => f.equals(good)).length;
    assert.ok(whole >= 1 && out.at(-1)!.equals(good), `cut ${cut}: ${out.length} frames, ${whole} whole`);
    if (out.length === 2 && whole === 2) exact++;
  }
  assert.ok(
    exact / (good.length - 5) >= 0.99,
    `exact recovery at ${exact} of ${good.length - 5} cut positions`,
  );
});
