/** Publish policies: which classification results a reporter publishes (every, label-change, threshold, every-nth). */
import { ConfigError } from '@edge-dmp/core';
import type { ClassificationResult } from './types.js';

/** Which results get published. */
export type PublishPolicyName = 'every' | 'label-change' | 'threshold' | 'every-nth';

export interface PublishPolicyOptions {
  policy?: PublishPolicyName;
  /** Minimum score for `threshold` (default 0.5); changed at runtime by the set-threshold command. */
  threshold?: number;
  /** N for `every-nth` (default 10): results 1, N+1, 2N+1... are published. */
  everyN?: number;
}

interface PolicyState {
  threshold: number;
  everyN: number;
  count: number;
  lastLabel: string | null;
}

/** One row per policy: (state, result) -> publish? Rows update the state they own. */
const POLICIES: Record<PublishPolicyName, (s: PolicyState, r: ClassificationResult) => boolean> = {
  every: () => true,
  'label-change': (s, r) => {
    const changed = r.label !== s.lastLabel;
    s.lastLabel = r.label;
    return changed;
  },
  threshold: (s, r) => r.score >= s.threshold,
  'every-nth': (s) => (s.count - 1) % s.everyN === 0,
};

/** The policy names, for flag validation and help text. */
export const PUBLISH_POLICIES = Object.keys(POLICIES) as PublishPolicyName[];

/** A stateful publish filter. */
export interface PublishPolicy {
  readonly name: PublishPolicyName;
  threshold: number;
  readonly everyN: number;
  /** True when this result should be published. Call once per result, in order. */
  accept(r: ClassificationResult): boolean;
}

/** Validates a threshold value (0..1), naming `field` on failure. */
export function checkThreshold(v: unknown, field = 'threshold'): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw new ConfigError({ field, expected: 'a number in [0, 1]', received: v });
  }
  return v;
}

/**
 * Creates a publish policy.
 * @example const p = createPublishPolicy({ policy: 'threshold', threshold: 0.8 }); if (p.accept(r)) send(r);
 */
export function createPublishPolicy(opts: PublishPolicyOptions = {}): PublishPolicy {
  const name = opts.policy ?? 'every';
  const row = POLICIES[name];
  if (!row)
    throw new ConfigError({ field: 'policy', expected: PUBLISH_POLICIES.join(' | '), received: name });
  const everyN = opts.everyN ?? 10;
  if (!Number.isInteger(everyN) || everyN < 1) {
    throw new ConfigError({ field: 'everyN', expected: 'an integer >= 1', received: everyN });
  }
  const state: PolicyState = {
    threshold: checkThreshold(opts.threshold ?? 0.5),
    everyN,
    count: 0,
    lastLabel: null,
  };
  return {
    name,
    everyN,
    get threshold() {
      return state.threshold;
    },
    set threshold(v: number) {
      state.threshold = checkThreshold(v);
    },
    accept(r) {
      state.count++;
      return row(state, r);
    },
  };
}
