/**
 * The pipeline: real ffmpeg testsrc MJPEG into a real .tflite through the real runtime; exact
 * backpressure and fps-cap drop counts (frames emitted by the test, a classifier held by a gate);
 * bad frames; pause/resume; replays that never drop; source restarts; failing reporters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  createClassifier,
  createSource,
  Pipeline,
  type Classifier,
  type FrameClassifier,
  type FrameOutcome,
  type PipelineStats,
  type Reporter,
} from '../device/index.js';
import { BaseSource } from '../device/sources/types.js';
import { COLOUR_LABELS, tinyModel } from './helpers/device-models.js';

const dir = mkdtempSync(join(tmpdir(), 'edmp-pipeline-'));
let classifier: Classifier;
test.before(async () => {
  classifier = await createClassifier({
    model: tinyModel({ kind: 'colour', size: [16, 16] }),
    labels: COLOUR_LABELS,
  });
});
test.after(() => {
  classifier.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A live source whose frames the test emits by hand. */
class ManualSource extends BaseSource {
  constructor(live = true) {
    super('manual:', live);
  }
  start(): void {}
  async stop(): Promise<void> {
    this.stopped = true;
    this.finish('stopped');
  }
  send(data: Buffer): void {
    this.pushFrame(data);
  }
  end(): void {
    this.finish('end of input');
  }
}

/** The real classifier, held until the test opens the gate for each frame. */
function gated(c: FrameClassifier) {
  const waiting: (() => void)[] = [];
  const started: number[] = [];
  return {
    started,
    release(): void {
      waiting.shift()?.();
    },
    get held(): number {
      return waiting.length;
    },
    classifier: {
      async tryClassify(frame, meta) {
        started.push(meta.frameId ?? -1);
        await new Promise<void>((r) => waiting.push(r));
        return c.tryClassify(frame, meta);
      },
    } as FrameClassifier,
  };
}

function recorder(): Reporter & { outcomes: FrameOutcome[]; metricsSeen: PipelineStats[]; closed: boolean } {
  const r = {
    name: 'test',
    outcomes: [] as FrameOutcome[],
    metricsSeen: [] as PipelineStats[],
    closed: false,
    report(o: FrameOutcome) {
      r.outcomes.push(o);
    },
    metrics(s: PipelineStats) {
      r.metricsSeen.push(s);
    },
    async close() {
      r.closed = true;
    },
  };
  return r;
}

const tick = () => new Promise((r) => setImmediate(r));
const red = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#e01010' } })
  .jpeg()
  .toBuffer();
const blue = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#1010e0' } })
  .jpeg()
  .toBuffer();

test('ffmpeg testsrc -> real .tflite in the TFLite runtime -> reporters, with stats', async () => {
  const rep = recorder();
  const source = createSource('testsrc:?pattern=smptebars', { width: 64, height: 48, fps: 30 });
  const p = new Pipeline({ source, classifier, reporters: [rep], maxFrames: 8, statsIntervalMs: 0 });
  const stats = await p.run();
  assert.equal(rep.outcomes.length, 8);
  for (const o of rep.outcomes) {
    assert.equal(o.ok, true, JSON.stringify(o));
    if (o.ok) {
      assert.ok(COLOUR_LABELS.includes(o.label));
      assert.ok(o.score > 1 / 3 && o.score <= 1);
      assert.equal(o.topK.length, 3);
      assert.ok(o.timings.inferMs >= 0);
    }
  }
  // Frame ids are increasing; gaps are frames dropped while busy.
  const ids = rep.outcomes.map((o) => o.frameId);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  assert.equal(stats.classified, 8);
  assert.equal(stats.errors, 0);
  assert.ok(stats.frames >= 8 && stats.frames - stats.classified - stats.dropped <= 1, JSON.stringify(stats));
  assert.ok(stats.fps > 0);
  assert.ok(stats.latencyMs.p95 >= stats.latencyMs.p50 && stats.latencyMs.p50 >= 0);
  assert.equal(rep.metricsSeen.length, 1, 'final metrics on end');
  assert.ok(rep.closed);
});

test('latest-frame-wins: a busy classifier keeps only the newest frame and counts the dropped ones', async () => {
  const src = new ManualSource();
  const g = gated(classifier);
  const drops: number[] = [];
  const rep = recorder();
  const p = new Pipeline({ source: src, classifier: g.classifier, reporters: [rep], statsIntervalMs: 0 });
  p.on('drop', (d) => {
    assert.equal(d.reason, 'busy');
    drops.push(d.frameId);
  });
  p.start();
  src.send(red); // frame 1 goes straight to the classifier
  for (let i = 2; i <= 9; i++) src.send(red); // 2..9 each replaced by the next
  src.send(blue); // frame 10 is the one kept
  assert.deepEqual(g.started, [1]);
  g.release();
  while (g.held === 0) await tick();
  assert.deepEqual(g.started, [1, 10]);
  g.release();
  while (rep.outcomes.length < 2) await tick();
  src.end();
  const s = await p.done;
  assert.deepEqual(drops, [2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(
    rep.outcomes.map((o) => [o.frameId, o.ok && o.label]),
    [
      [1, 'red'],
      [10, 'blue'],
    ],
  );
  assert.equal(s.frames, 10);
  assert.equal(s.classified, 2);
  assert.equal(s.dropped, 8);
  assert.equal(s.droppedBusy, 8);
  assert.equal(s.droppedFps, 0);
});

test('fps cap: frames waiting for the next slot are replaced by newer ones and counted', async () => {
  const src = new ManualSource();
  const rep = recorder();
  const drops: [number, string][] = [];
  const p = new Pipeline({ source: src, classifier, reporters: [rep], fps: 2, statsIntervalMs: 0 });
  p.on('drop', (d) => drops.push([d.frameId, d.reason]));
  p.start();
  for (let i = 1; i <= 5; i++) src.send(red); // 1 runs; 2,3,4 dropped while busy; 5 waits
  while (rep.outcomes.length < 1) await tick();
  src.send(red); // 6 replaces 5 while waiting for the fps slot
  src.send(blue); // 7 replaces 6
  while (rep.outcomes.length < 2) await tick();
  src.end();
  const s = await p.done;
  assert.deepEqual(
    rep.outcomes.map((o) => [o.frameId, o.ok && o.label]),
    [
      [1, 'red'],
      [7, 'blue'],
    ],
  );
  assert.deepEqual(drops, [
    [2, 'busy'],
    [3, 'busy'],
    [4, 'busy'],
    [5, 'fps'],
    [6, 'fps'],
  ]);
  assert.equal(s.droppedBusy, 3);
  assert.equal(s.droppedFps, 2);
  assert.equal(s.fpsCap, 2);
});

test('pause ignores frames, resume and setFps take effect; a throwing reporter is counted, not fatal', async () => {
  const src = new ManualSource();
  const rep = recorder();
  const bad: Reporter = {
    name: 'bad',
    report() {
      throw new Error('transport down');
    },
    async close() {},
  };
  const errors: Error[] = [];
  const p = new Pipeline({ source: src, classifier, reporters: [bad, rep], fps: 1000, statsIntervalMs: 0 });
  p.on('error', (e) => errors.push(e));
  p.start();
  p.pause();
  assert.equal(p.paused, true);
  src.send(red);
  src.send(red);
  assert.equal(p.stats().ignoredPaused, 2);
  p.resume();
  p.setFps(0);
  src.send(blue);
  while (rep.outcomes.length < 1) await tick();
  src.end();
  const s = await p.done;
  assert.equal(s.frames, 1);
  assert.equal(s.classified, 1);
  assert.equal(s.fpsCap, 0);
  assert.equal(s.reporterErrors, 1);
  assert.match(errors[0].message, /transport down/);
  assert.throws(() => p.setFps(-2), /fps/);
});

test('reporters get metrics every statsIntervalMs while running, and once more at the end', async () => {
  const src = new ManualSource();
  const rep = recorder();
  const stats: number[] = [];
  const p = new Pipeline({ source: src, classifier, reporters: [rep], statsIntervalMs: 20 });
  p.on('stats', (s) => stats.push(s.classified));
  p.start();
  src.send(red);
  while (rep.metricsSeen.length < 3) await tick();
  src.end();
  const s = await p.done;
  assert.ok(stats.length >= 3);
  assert.equal(rep.metricsSeen.length, stats.length + 1, 'periodic ones plus the final one');
  assert.equal(rep.metricsSeen.at(-1)?.classified, 1);
  assert.equal(s.classified, 1);
  assert.ok(s.uptimeS > 0);
});

test('pausing a replay loses no frames: it resumes where it stopped', async () => {
  const images = join(dir, 'replay-pause');
  mkdirSync(images);
  for (const [i, b] of [red, blue, red, blue].entries()) writeFileSync(join(images, `${i}.jpg`), b);
  const rep = recorder();
  const p = new Pipeline({
    source: createSource(`file://${images}`),
    classifier,
    reporters: [rep],
    statsIntervalMs: 0,
  });
  p.once('result', () => p.pause());
  p.start();
  while (rep.outcomes.length < 1) await tick();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(rep.outcomes.length, 1, 'nothing classified while paused');
  p.resume();
  const s = await p.done;
  assert.deepEqual(
    rep.outcomes.map((o) => o.ok && o.label),
    ['red', 'blue', 'red', 'blue'],
  );
  assert.equal(s.ignoredPaused, 0);
  assert.equal(s.dropped, 0);
});

test('bad frames become failures with codes; the pipeline keeps going; replays never drop', async () => {
  const images = join(dir, 'mixed');
  mkdirSync(images);
  writeFileSync(join(images, 'a-good.jpg'), red);
  writeFileSync(join(images, 'b-empty.jpg'), Buffer.alloc(0));
  writeFileSync(join(images, 'c-truncated.jpg'), red.subarray(0, red.length - 200));
  writeFileSync(join(images, 'd-text.png'), 'hello');
  writeFileSync(join(images, 'e-good.jpg'), blue);
  const rep = recorder();
  const g = gated(classifier);
  const p = new Pipeline({
    source: createSource(`file://${images}`),
    classifier: g.classifier,
    reporters: [rep],
    statsIntervalMs: 0,
  });
  p.start();
  // Hold each frame a moment: a replay waits (no drops) instead of skipping ahead.
  for (let i = 0; i < 5; i++) {
    while (g.held === 0) await tick();
    await new Promise((r) => setTimeout(r, 20));
    g.release();
  }
  const s = await p.done;
  assert.deepEqual(
    rep.outcomes.map((o) => (o.ok ? o.label : o.code)),
    ['red', 'E_FRAME_EMPTY', 'E_FRAME_TRUNCATED', 'E_FRAME_FORMAT', 'blue'],
  );
  assert.equal(s.frames, 5);
  assert.equal(s.classified, 2);
  assert.equal(s.errors, 3);
  assert.equal(s.dropped, 0);

  // 200 corrupt frames into a live pipeline: all accounted for, nothing queued beyond one frame.
  const src = new ManualSource();
  const p2 = new Pipeline({ source: src, classifier, statsIntervalMs: 0 });
  let outcomes = 0;
  p2.on('result', () => outcomes++);
  p2.start();
  for (let i = 0; i < 200; i++) {
    // JPEG magic, then junk: passes the format check, fails in the decoder.
    src.send(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(200 + i, i)]));
    if (i % 10 === 0) await tick();
  }
  while (p2.stats().errors + p2.stats().dropped < 200) await tick();
  src.end();
  const s2 = await p2.done;
  assert.equal(s2.frames, 200);
  assert.equal(s2.errors + s2.dropped, 200);
  assert.equal(s2.classified, 0);
  assert.equal(outcomes, s2.errors);
});

test('file video replay classifies every frame; a restarting testsrc keeps the pipeline fed', async () => {
  const video = join(dir, 'clip.avi');
  const r = spawnSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=blue:size=64x48:rate=25'],
    ...['-frames:v', '12', '-c:v', 'mpeg4', '-y', video],
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  const rep = recorder();
  const s = await new Pipeline({
    source: createSource(`file://${video}`),
    classifier,
    reporters: [rep],
    statsIntervalMs: 0,
  }).run();
  assert.equal(s.classified, 12);
  assert.equal(s.dropped, 0);
  assert.ok(rep.outcomes.every((o) => o.ok && o.label === 'blue'));

  const restarts: number[] = [];
  const p = new Pipeline({
    source: createSource('testsrc:?duration=0.2', {
      width: 32,
      height: 32,
      fps: 25,
      restart: { initialMs: 20 },
    }),
    classifier,
    maxFrames: 10,
    statsIntervalMs: 0,
  });
  p.on('restart', (x) => restarts.push(x.attempt));
  const s2 = await p.run();
  assert.equal(s2.classified, 10);
  assert.ok(s2.sourceRestarts >= 1 && restarts.length === s2.sourceRestarts);
});
