/**
 * The health gate after a switch: the first N outcomes of the new model decide (error rate, p95
 * latency), within a timeout. The golden self-check runs before it (agent.ts), with the
 * existing checkGolden of device/bundle.ts.
 */
import type { FrameOutcome } from '../types.js';
import type { HealthRules } from './config.js';

export interface HealthVerdict {
  ok: boolean;
  frames: number;
  errors: number;
  errorRate: number;
  p95Ms: number;
  /** Why it failed, naming the rule and the numbers. */
  reason?: string;
}

function p95(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}

/** The rules in order: the first broken one is the reason. */
const RULES: [string, (v: HealthVerdict, r: HealthRules) => string | null][] = [
  [
    'maxErrorRate',
    (v, r) =>
      v.errorRate > r.maxErrorRate
        ? `error rate ${v.errorRate.toFixed(3)} (${v.errors}/${v.frames}) > maxErrorRate ${r.maxErrorRate}`
        : null,
  ],
  [
    'maxP95Ms',
    (v, r) => (v.p95Ms > r.maxP95Ms ? `p95 latency ${v.p95Ms.toFixed(1)} ms > maxP95Ms ${r.maxP95Ms}` : null),
  ],
];

/**
 * Judges outcomes against the rules.
 * @example judge(outcomes, { frames: 20, maxErrorRate: 0.1, maxP95Ms: 500, timeoutMs: 60000, crashLoop })
 */
export function judge(outcomes: FrameOutcome[], rules: HealthRules): HealthVerdict {
  const errors = outcomes.filter((o) => !o.ok).length;
  const lat = outcomes.flatMap((o) =>
    o.ok ? [o.timings.decodeMs + o.timings.preprocessMs + o.timings.inferMs] : [],
  );
  const v: HealthVerdict = {
    ok: true,
    frames: outcomes.length,
    errors,
    errorRate: outcomes.length ? errors / outcomes.length : 0,
    p95Ms: p95(lat),
  };
  for (const [, rule] of RULES) {
    const why = rule(v, rules);
    if (why) return { ...v, ok: false, reason: why };
  }
  return v;
}

/**
 * Collects the new model's first N outcomes; resolves with the verdict (a timeout is a failure).
 * @example
 * const gate = new HealthGate(rules);
 * classifier.observer = (o) => gate.observe(o);
 * const verdict = await gate.verdict;
 */
export class HealthGate {
  readonly verdict: Promise<HealthVerdict>;
  private readonly outcomes: FrameOutcome[] = [];
  private resolve!: (v: HealthVerdict) => void;
  private done = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly rules: HealthRules) {
    this.verdict = new Promise((r) => (this.resolve = r));
    this.timer = setTimeout(() => {
      const v = judge(this.outcomes, rules);
      this.finish({
        ...v,
        ok: false,
        reason: `timeout: ${this.outcomes.length} of ${rules.frames} frames within timeoutMs ${rules.timeoutMs}`,
      });
    }, rules.timeoutMs);
  }

  observe(o: FrameOutcome): void {
    if (this.done) return;
    this.outcomes.push(o);
    if (this.outcomes.length >= this.rules.frames) this.finish(judge(this.outcomes, this.rules));
  }

  /** Outcomes seen so far. */
  get count(): number {
    return this.outcomes.length;
  }

  cancel(reason: string): void {
    this.finish({ ...judge(this.outcomes, this.rules), ok: false, reason });
  }

  private finish(v: HealthVerdict): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.resolve(v);
  }
}

/**
 * Crash-loop rule: the agent starts recorded while an update is unconfirmed, kept within the
 * window; K of them within T is a loop.
 * @example crashLoop([t0, t1, t2], now, { restarts: 3, windowMs: 600000 }) // { loop: true, recent: [...] }
 */
export function crashLoop(
  boots: number[],
  now: number,
  rule: HealthRules['crashLoop'],
): { loop: boolean; recent: number[] } {
  const recent = boots.filter((t) => now - t <= rule.windowMs);
  return { loop: recent.length >= rule.restarts, recent };
}
