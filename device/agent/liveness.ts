/**
 * What feeds the systemd watchdog: the pipeline must still move. A timer alone keeps pinging while
 * a source hangs; this probe says "alive" only while frames keep arriving (or nothing is meant to
 * run: no model yet, or paused by a command), so systemd restarts an agent whose pipeline stalled.
 */

/** The little of the pipeline's stats the probe reads (null: no pipeline running). */
export type PipelineView = { frames: number; paused: boolean } | null;

/**
 * Returns a probe: true while `read()` shows new frames within `stallMs` (or no running/paused
 * pipeline), false once frames stop for longer.
 * @example const alive = livenessProbe(() => agent.pipeline?.stats() ?? null, 30_000);
 */
export function livenessProbe(
  read: () => PipelineView,
  stallMs: number,
  now = () => Date.now(),
): () => boolean {
  let frames = -1;
  let at = now();
  return () => {
    const s = read();
    if (!s || s.paused || s.frames !== frames) {
      frames = s?.frames ?? -1;
      at = now();
      return true;
    }
    return now() - at <= stallMs;
  };
}

/** Three watchdog periods, at least 5 s: a slow camera is not a stalled one. */
export function stallMsFor(watchdogUsec: number): number {
  return Math.max(5000, (3 * watchdogUsec) / 1000);
}
