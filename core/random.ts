/**
 * A small seeded PRNG. Training must be reproducible under `--seed` and resumable mid-run, so
 * every random stream is derived from (seed, epoch, step, purpose) by hashing instead of being
 * carried along: a resumed run recomputes exactly the same streams without saving RNG state.
 */

/** Mixes 32-bit words into one well-spread 32-bit hash (murmur3-style finaliser per word). */
export function hashSeed(...words: number[]): number {
  let h = 0x811c9dc5;
  for (const w of words) {
    let k = Math.imul(w | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seeded random stream (a Weyl sequence passed through a 32-bit finaliser).
 * @example
 * const r = new Rng(42);
 * r.next(); // a float in [0, 1)
 * r.int(10); // an integer in 0..9
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(a: T[] | Int32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

/**
 * Runs `fn` with `Math.random` replaced by a seeded stream. tfjs draws weight initialisers and
 * dropout masks from `Math.random` when no seed is given, so this makes model creation and
 * training steps reproducible without touching the model code. Only for synchronous `fn`.
 * @example
 * const model = withSeededRandom(hashSeed(seed, 1), () => createModel(opts));
 */
export function withSeededRandom<T>(seed: number, fn: () => T): T {
  const saved = Math.random;
  const r = new Rng(seed);
  Math.random = () => r.next();
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}
