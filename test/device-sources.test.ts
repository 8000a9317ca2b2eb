/**
 * Frame sources: the command table and restart logic with an injected spawn, then the real ffmpeg
 * paths (testsrc, a video file, an HTTP MJPEG stream from a loopback server), a folder of JPEGs and stdin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import {
  buildCommand,
  createSource,
  parseSourceUri,
  SourceError,
  type FrameSource,
  type RestartInfo,
  type SourceFrame,
  type SourceOptions,
  type SpawnFn,
} from '../device/index.js';
import { ConfigError } from '../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-sources-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function mjpeg(frames: number, size = '64x48'): Buffer {
  const r = spawnSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=10`],
    ...['-frames:v', String(frames), '-f', 'mjpeg', 'pipe:1'],
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

/** Collects frames until `n` arrived (or the source ended), then stops the source. */
async function take(
  src: FrameSource,
  n: number,
): Promise<{ frames: SourceFrame[]; restarts: RestartInfo[]; ended: string }> {
  const frames: SourceFrame[] = [];
  const restarts: RestartInfo[] = [];
  src.on('restart', (r) => restarts.push(r));
  const ended = new Promise<string>((resolve) => src.once('end', (e) => resolve(e.reason)));
  await new Promise<void>((resolve) => {
    src.on('frame', (f) => {
      // One stdout chunk can hold several frames: keep exactly n.
      if (frames.length < n) frames.push(f);
      if (frames.length === n) resolve();
    });
    void ended.then(() => resolve());
    src.start();
  });
  await src.stop();
  return { frames, restarts, ended: await ended };
}

test('URIs parse per scheme; unknown schemes and bad options are ConfigErrors naming --source', () => {
  assert.equal(parseSourceUri('v4l2:///dev/video2').target, '/dev/video2');
  assert.equal(parseSourceUri('v4l2:1').target, '/dev/video1');
  assert.equal(parseSourceUri('csi://1').target, '1');
  assert.equal(parseSourceUri('rpicam:').target, '0');
  assert.equal(parseSourceUri('file:///data/x.mp4').target, '/data/x.mp4');
  assert.equal(parseSourceUri('file://rel/dir').target, 'rel/dir');
  assert.equal(parseSourceUri('rtsp://cam/s?x=1').target, 'rtsp://cam/s?x=1');
  assert.equal(parseSourceUri('testsrc:?duration=2').params.get('duration'), '2');
  for (const bad of ['webcam:0', 'nothing', 'csi://front', 'v4l2://']) {
    assert.throws(
      () => parseSourceUri(bad),
      (e: unknown) => e instanceof ConfigError && e.field === '--source',
    );
  }
  assert.throws(
    () => createSource('testsrc:', { fps: -1 }),
    (e: unknown) => e instanceof ConfigError && e.field === '--fps',
  );
  assert.throws(
    () => createSource('testsrc:', { flip: 'up' as 'none' }),
    (e: unknown) => e instanceof ConfigError && e.field === '--flip',
  );
  assert.throws(
    () => createSource(`file://${join(dir, 'missing')}`),
    (e: unknown) => e instanceof ConfigError,
  );
});

test('command table: the exact argv per scheme', () => {
  const o: SourceOptions = { width: 640, height: 480, fps: 15, flip: 'horizontal' };
  const cmd = (uri: string, opts = o) => buildCommand(parseSourceUri(uri), opts);
  const v = cmd('v4l2:///dev/video0');
  assert.deepEqual(v.programs, ['ffmpeg']);
  assert.deepEqual(v.args.slice(4), [
    ...['-f', 'v4l2', '-framerate', '15', '-video_size', '640x480', '-i', '/dev/video0'],
    ...['-vf', 'scale=640:480,hflip', '-an', '-f', 'mjpeg', '-q:v', '5', 'pipe:1'],
  ]);
  const r = cmd('rpicam:0', { ...o, flip: 'both' });
  assert.deepEqual(r.programs, ['rpicam-vid', 'libcamera-vid']);
  assert.deepEqual(r.args, [
    ...[
      '-t',
      '0',
      '-n',
      '--camera',
      '0',
      '--codec',
      'mjpeg',
      '--width',
      '640',
      '--height',
      '480',
      '--framerate',
      '15',
    ],
    ...['--hflip', '--vflip', '-o', '-'],
  ]);
  const c = cmd('csi://0');
  assert.deepEqual(c.programs, ['gst-launch-1.0']);
  assert.equal(
    c.args.join(' '),
    '-q nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=640,height=480,framerate=15/1 ! nvvidconv flip-method=4 ! video/x-raw,format=I420 ! jpegenc ! fdsink fd=1',
  );
  assert.deepEqual(cmd('rtsp://cam.local/s').args.slice(4, 8), [
    '-rtsp_transport',
    'tcp',
    '-i',
    'rtsp://cam.local/s',
  ]);
  assert.ok(cmd('rtsp://cam.local/s').args.includes('fps=15,scale=640:480,hflip'));
  assert.deepEqual(cmd('https://cam/video').args.slice(4, 6), ['-i', 'https://cam/video']);
  const f = cmd('file:///v.mp4', { realtime: true });
  assert.deepEqual(f.args.slice(4, 7), ['-re', '-i', '/v.mp4']);
  assert.equal(f.live, false);
  assert.equal(f.restart, false);
  const t = cmd('testsrc:?pattern=smptebars&duration=3', { width: 320, height: 240, fps: 5 });
  assert.deepEqual(t.args.slice(4, 9), [
    '-re',
    '-f',
    'lavfi',
    '-i',
    'smptebars=size=320x240:rate=5:duration=3',
  ]);
  assert.equal(t.live, true);
  assert.equal(t.restart, true);
});

/** A fake child process driven by the test. */
class FakeProc extends EventEmitter {
  stdout = new PassThrough();
  stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: string | null = null;
  kill(sig = 'SIGTERM'): boolean {
    this.exit(null, sig);
    return true;
  }
  exit(code: number | null, sig: string | null = null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = sig;
    setImmediate(() => this.emit('close', code, sig));
  }
}

test('rpicam falls back to libcamera-vid; no program at all is E_SOURCE_SPAWN and ends', async () => {
  const calls: string[] = [];
  const frame = mjpeg(1);
  const spawn: SpawnFn = (cmd) => {
    calls.push(cmd);
    const p = new FakeProc();
    setImmediate(() => {
      if (cmd === 'rpicam-vid') {
        p.emit('error', Object.assign(new Error(`spawn ${cmd} ENOENT`), { code: 'ENOENT' }));
      } else {
        p.stdout.write(frame);
      }
    });
    return p as unknown as ChildProcess;
  };
  const src = createSource('rpicam:', { spawn });
  const got = await take(src, 1);
  assert.deepEqual(calls, ['rpicam-vid', 'libcamera-vid']);
  assert.equal(got.frames.length, 1);
  assert.ok(got.frames[0].data.equals(frame));

  const none: SpawnFn = (cmd) => {
    const p = new FakeProc();
    setImmediate(() => p.emit('error', Object.assign(new Error(`spawn ${cmd} ENOENT`), { code: 'ENOENT' })));
    return p as unknown as ChildProcess;
  };
  const s2 = createSource('csi://0', { spawn: none });
  const errors: SourceError[] = [];
  s2.on('error', (e) => errors.push(e));
  const r2 = await take(s2, 1);
  assert.equal(r2.frames.length, 0);
  assert.equal(errors[0].code, 'E_SOURCE_SPAWN');
  assert.match(errors[0].message, /gst-launch-1\.0/);
  assert.match(r2.ended, /cannot start/);
});

test('a process that exits restarts with exponential backoff, reset by a frame; maxRestarts ends it', async () => {
  const frame = mjpeg(1);
  let n = 0;
  // Runs 1, 2 and 4 die at once (stderr says why); run 3 sends a frame first.
  const spawn: SpawnFn = () => {
    const p = new FakeProc();
    const run = ++n;
    setImmediate(() => {
      if (run === 3) p.stdout.write(frame);
      p.stderr.write(`device busy (run ${run})\n`);
      setImmediate(() => p.exit(1));
    });
    return p as unknown as ChildProcess;
  };
  const src = createSource('v4l2:///dev/video9', {
    spawn,
    restart: { initialMs: 5, factor: 3, maxRestarts: 3 },
  });
  const errors: SourceError[] = [];
  src.on('error', (e) => errors.push(e));
  const got = await take(src, 99);
  assert.equal(got.frames.length, 1);
  assert.deepEqual(
    got.restarts.map((r) => [r.attempt, r.delayMs]),
    [
      [1, 5],
      [2, 15],
      [1, 5], // run 3 delivered a frame: backoff starts over
      [2, 15],
      [3, 45],
    ],
  );
  assert.match(got.restarts[0].reason, /code 1.*device busy \(run 1\)/);
  assert.equal(errors.at(-1)?.code, 'E_SOURCE_EXIT');
  assert.equal(n, 6);
});

test('a broken frame in the stream is dropped with an E_SOURCE_FRAME error; the next frame gets through', async () => {
  const good = mjpeg(1);
  const spawn: SpawnFn = () => {
    const p = new FakeProc();
    // SOI, a few segment bytes, then a new SOI before any EOI: the first frame is cut short.
    setImmediate(() => p.stdout.write(Buffer.concat([good.subarray(0, 300), good])));
    return p as unknown as ChildProcess;
  };
  const src = createSource('rtsp://cam.local/s', { spawn });
  const errors: SourceError[] = [];
  src.on('error', (e) => errors.push(e));
  const got = await take(src, 1);
  assert.equal(got.frames.length, 1);
  assert.ok(got.frames[0].data.equals(good));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'E_SOURCE_FRAME');
  assert.match(errors[0].message, /1 broken or oversized frame/);
});

test('testsrc: real ffmpeg frames at the asked size; flip mirrors them', async () => {
  const a = await take(createSource('testsrc:', { width: 64, height: 48, fps: 30 }), 3);
  assert.equal(a.frames.length, 3);
  assert.deepEqual(
    a.frames.map((f) => f.seq),
    [1, 2, 3],
  );
  const meta = await sharp(a.frames[0].data).metadata();
  assert.equal(meta.width, 64);
  assert.equal(meta.height, 48);
  const b = await take(createSource('testsrc:', { width: 64, height: 48, fps: 30, flip: 'horizontal' }), 1);
  // Mirror the flipped first frame back: it matches the plain first frame up to JPEG noise.
  const plain = await sharp(a.frames[0].data).raw().toBuffer();
  const back = await sharp(b.frames[0].data).flop().raw().toBuffer();
  const straight = await sharp(b.frames[0].data).raw().toBuffer();
  const mad = (x: Buffer, y: Buffer) => x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / x.length;
  assert.ok(mad(plain, back) < 8, `mirrored back: ${mad(plain, back)}`);
  assert.ok(mad(plain, straight) > 4 * mad(plain, back), 'flipped frame differs from the plain one');
});

test('testsrc with a duration: the real process exits and the source restarts it', async () => {
  const src = createSource('testsrc:?duration=0.2', {
    width: 32,
    height: 32,
    fps: 25,
    restart: { initialMs: 20 },
  });
  const got = await take(src, 12);
  assert.equal(got.frames.length, 12);
  assert.ok(got.restarts.length >= 1, 'restarted');
  assert.match(got.restarts[0].reason, /ffmpeg exited \(code 0\)/);
  assert.equal(got.ended, 'stopped');
});

test('file:// video replay: every frame of a file made by ffmpeg, then end', async () => {
  const video = join(dir, 'clip.avi');
  const r = spawnSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=80x60:rate=25'],
    ...['-frames:v', '17', '-c:v', 'mpeg4', '-y', video],
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  const src = createSource(`file://${video}`, { width: 40, height: 30 });
  assert.equal(src.live, false);
  const got = await take(src, 1000);
  assert.equal(got.frames.length, 17);
  assert.equal(got.ended, 'end of input');
  assert.equal((await sharp(got.frames[16].data).metadata()).width, 40);
});

test('file:// folder replay in name order, looping on request; stdin MJPEG', async () => {
  const images = join(dir, 'imgs');
  mkdirSync(images);
  const colours = ['#ff0000', '#00ff00', '#0000ff'];
  for (const [i, c] of colours.entries()) {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: c } })
      .png()
      .toBuffer();
    writeFileSync(join(images, `f${i}.png`), png);
  }
  writeFileSync(join(images, 'notes.txt'), 'skipped');
  const once1 = await take(createSource(`file://${images}`), 100);
  assert.equal(once1.frames.length, 3);
  assert.equal(once1.ended, 'end of input');
  const firstPixel = await sharp(once1.frames[2].data).raw().toBuffer();
  assert.deepEqual([...firstPixel.subarray(0, 3)], [0, 0, 255]);
  const looped = await take(createSource(`file://${images}`, { loop: true }), 7);
  assert.equal(looped.frames.length, 7);
  assert.ok(looped.frames[6].data.equals(looped.frames[0].data));

  const stdin = new PassThrough();
  const src = createSource('stdin:', { stdin });
  const p = take(src, 100);
  const stream = mjpeg(5);
  for (let i = 0; i < stream.length; i += 1000) stdin.write(stream.subarray(i, i + 1000));
  stdin.end();
  const got = await p;
  assert.equal(got.frames.length, 5);
  assert.equal(got.ended, 'end of input');
});

test('http:// MJPEG from a loopback server through real ffmpeg; the stream ending triggers a restart', async () => {
  const jpeg = mjpeg(1, '48x32');
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' });
    let i = 0;
    const t = setInterval(() => {
      res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
      res.write(jpeg);
      res.write('\r\n');
      if (++i === 4) {
        clearInterval(t);
        res.end();
      }
    }, 20);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const src = createSource(`http://127.0.0.1:${port}/stream.mjpg`, { restart: { initialMs: 20 } });
    const got = await take(src, 6);
    assert.equal(got.frames.length, 6);
    assert.ok(requests >= 2, 'reconnected after the stream ended');
    assert.ok(got.restarts.length >= 1);
    const meta = await sharp(got.frames[5].data).metadata();
    assert.equal(meta.width, 48);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
