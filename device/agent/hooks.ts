/**
 * Test hook: `EDGE_DMP_AGENT_PAUSE_AT=<point>` makes the agent stop at that point of an update
 * (logging `{"event":"paused","at":<point>}`) and wait there forever, so a test's SIGKILL lands in
 * a known state. The pipeline keeps classifying meanwhile. Points: {@link PAUSE_POINTS}.
 */

/** Where an update can be held: one per state of the kill-9 matrix (docs/agent.md). */
export const PAUSE_POINTS = ['receiving', 'verified', 'unpacking', 'switched', 'health'] as const;
export type PausePoint = (typeof PAUSE_POINTS)[number];

/** True when the env var holds the update at this point. */
export function pauseRequested(at: PausePoint): boolean {
  return process.env.EDGE_DMP_AGENT_PAUSE_AT === at;
}

/** Resolves at once unless the env var names this point; then logs and never resolves. */
export function pausePoint(at: PausePoint, log: (e: Record<string, unknown>) => void): Promise<void> {
  if (!pauseRequested(at)) return Promise.resolve();
  log({ event: 'paused', at });
  return new Promise(() => {});
}
