/** The watchdog's liveness probe (device/agent/liveness.ts), on a fake clock and fake stats. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { livenessProbe, stallMsFor, type PipelineView } from '../device/agent/liveness.js';

test('alive while frames advance, dead after stallMs without a new frame, alive again when they resume', () => {
  let t = 0;
  let view: PipelineView = { frames: 0, paused: false };
  const alive = livenessProbe(
    () => view,
    5000,
    () => t,
  );
  assert.equal(alive(), true);
  for (let i = 1; i <= 5; i++) {
    t += 1000;
    view = { frames: i, paused: false };
    assert.equal(alive(), true, `frame ${i}`);
  }
  t += 5000; // exactly stallMs since the last new frame
  assert.equal(alive(), true);
  t += 1;
  assert.equal(alive(), false, 'stalled');
  t += 60_000;
  assert.equal(alive(), false, 'still stalled');
  view = { frames: 6, paused: false };
  assert.equal(alive(), true, 'frames again');
});

test('no pipeline (no model yet) and a paused pipeline count as alive; the stall clock restarts after them', () => {
  let t = 0;
  let view: PipelineView = null;
  const alive = livenessProbe(
    () => view,
    5000,
    () => t,
  );
  t += 60_000;
  assert.equal(alive(), true, 'no pipeline');
  view = { frames: 3, paused: true };
  t += 60_000;
  assert.equal(alive(), true, 'paused');
  view = { frames: 3, paused: false };
  t += 4000;
  assert.equal(alive(), true, 'resumed 4 s ago, within the window');
  t += 2000;
  assert.equal(alive(), false, 'no frame for 6 s after resuming');
});

test('stall window: three watchdog periods, at least 5 s', () => {
  assert.equal(stallMsFor(30_000_000), 90_000);
  assert.equal(stallMsFor(1_000_000), 5000);
});
