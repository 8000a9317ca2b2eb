/**
 * A corpus of bad frames: each gives a FrameError (classify) or a ClassificationFailure
 * (tryClassify) with its own code and a reason, and the classifier keeps working afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { createClassifier, FrameError, type Frame } from '../device/index.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-bad-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A deterministic 160x120 noise image (sharp's own noise is random, and so would be the corruption). */
function noiseImage(): Sharp {
  let s = 99;
  const px = Buffer.alloc(160 * 120 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (s = (s * 1103515245 + 12345) % 2 ** 31) >> 23;
  return sharp(px, { raw: { width: 160, height: 120, channels: 3 } });
}

/** CRC-32 (PNG chunks), so a crafted header passes libpng's checks and reaches the size limit. */
function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A valid 1x1 PNG whose IHDR now claims width x height. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toBuffer(),
  );
  // Signature (8) + length (4) + 'IHDR' (4): width and height follow.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

test('bad-frame corpus: every case has its code and a reason; good frames still classify', async () => {
  const c = await createClassifier({
    model: tinyModel({ kind: 'colour', size: [8, 8] }),
    labels: COLOUR_LABELS,
  });
  const noise = noiseImage();
  const jpeg = await noise.clone().jpeg().toBuffer();
  const png = await noise.clone().png().toBuffer();
  const gif = await noise.clone().gif().toBuffer();
  const corrupt = Buffer.from(jpeg);
  for (let i = 1000; i < corrupt.length - 10; i += 97) corrupt[i] ^= 0x5a;
  const good = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#10f010' } })
    .png()
    .toBuffer();
  const missing = join(dir, 'nope.jpg');
  const dirPath = dir;
  const emptyFile = join(dir, 'empty.jpg');
  writeFileSync(emptyFile, Buffer.alloc(0));

  const corpus: [string, Frame, string, RegExp][] = [
    ['zero-byte buffer', Buffer.alloc(0), 'E_FRAME_EMPTY', /0 bytes/],
    ['zero-byte file', emptyFile, 'E_FRAME_EMPTY', /0 bytes/],
    ['truncated JPEG', jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'E_FRAME_TRUNCATED', /premature end/],
    ['truncated PNG', png.subarray(0, Math.floor(png.length * 0.6)), 'E_FRAME_TRUNCATED', /./],
    ['header-only JPEG', jpeg.subarray(0, 200), 'E_FRAME_TRUNCATED', /./],
    ['corrupt JPEG data', corrupt, 'E_FRAME_CORRUPT', /Corrupt JPEG/],
    ['GIF (unsupported)', gif, 'E_FRAME_FORMAT', /JPEG, PNG or WebP/],
    ['text', Buffer.from('not an image at all'), 'E_FRAME_FORMAT', /bytes 6e6f/],
    ['PNG claiming 30000x30000', await pngClaiming(30000, 30000), 'E_FRAME_TOO_LARGE', /pixel limit/],
    [
      'raw frame, short data',
      { data: Buffer.alloc(10), width: 8, height: 8, format: 'rgb' },
      'E_FRAME_INVALID',
      /192 bytes/,
    ],
    [
      'raw frame, odd nv12',
      { data: Buffer.alloc(200), width: 9, height: 8, format: 'nv12' },
      'E_FRAME_INVALID',
      /even width/,
    ],
    [
      'raw frame, bad format',
      { data: Buffer.alloc(64), width: 8, height: 8, format: 'argb' as 'rgb' },
      'E_FRAME_INVALID',
      /rgb, bgr/,
    ],
    [
      'raw frame, zero width',
      { data: Buffer.alloc(64), width: 0, height: 8, format: 'gray' },
      'E_FRAME_INVALID',
      /positive integer/,
    ],
    [
      'raw frame, too large',
      { data: Buffer.alloc(1), width: 5000, height: 5000, format: 'gray' },
      'E_FRAME_TOO_LARGE',
      /maxInputPixels/,
    ],
    ['missing file', missing, 'E_FRAME_READ', /ENOENT/],
    ['a folder', dirPath, 'E_FRAME_READ', /not a regular file: a directory|a directory/],
    ['null', null as unknown as Frame, 'E_FRAME_INVALID', /a Buffer/],
  ];
  for (const [name, frame, code, re] of corpus) {
    await assert.rejects(c.classify(frame), (e: unknown) => {
      assert.ok(e instanceof FrameError, `${name}: ${e}`);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.match(e.message, re, name);
      return true;
    });
    const f = await c.tryClassify(frame, { frameId: 7, ts: 99 });
    assert.equal(f.ok, false, name);
    if (!f.ok) {
      assert.equal(f.code, code, name);
      assert.equal(f.frameId, 7);
      assert.equal(f.ts, 99);
      assert.ok(f.reason.length > 0);
    }
    // The classifier is unaffected.
    assert.equal((await c.classify(good)).label, 'green', `after ${name}`);
  }
  c.dispose();
});

test('limits are configurable: byte and pixel caps, and failOn', async () => {
  const img = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#ff0000' } })
    .jpeg()
    .toBuffer();
  const model = tinyModel({ kind: 'colour', size: [8, 8] });
  const small = await createClassifier({
    model,
    labels: COLOUR_LABELS,
    limits: { maxInputPixels: 100 * 100 },
  });
  const f = await small.tryClassify(img);
  assert.equal(f.ok, false);
  assert.equal(!f.ok && f.code, 'E_FRAME_TOO_LARGE');
  small.dispose();
  const bytes = await createClassifier({ model, labels: COLOUR_LABELS, limits: { maxFrameBytes: 100 } });
  const g = await bytes.tryClassify(img);
  assert.equal(!g.ok && g.code, 'E_FRAME_TOO_LARGE');
  assert.match(!g.ok ? g.reason : '', /at most 100 bytes/);
  bytes.dispose();
  // failOn 'truncated' accepts damaged entropy data that the default 'warning' refuses.
  const noise = await noiseImage().jpeg().toBuffer();
  for (let i = 1000; i < noise.length - 10; i += 97) noise[i] ^= 0x5a;
  const lenient = await createClassifier({ model, labels: COLOUR_LABELS, limits: { failOn: 'truncated' } });
  assert.equal((await lenient.tryClassify(noise)).ok, true);
  lenient.dispose();
});
