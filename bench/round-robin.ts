/**
 * Round-robin timing of several `.tflite` models in the runtime: one call of each in turn, so that
 * load from other processes on a shared machine hits all of them alike and their ratios hold
 * within one run even when the absolute times do not.
 */
import { performance } from 'node:perf_hooks';
import { loadTfliteModel } from '../runtime/tflite-runtime.js';

/**
 * Times `runs` rounds over `models` (after 3 warm-up rounds); returns each model's call times in ms.
 * @example const [a, b] = await roundRobin([{ bytes: b0 }, { bytes: dmp, threads: 2 }], 30);
 */
export async function roundRobin(
  models: { bytes: Uint8Array; threads?: number }[],
  runs: number,
): Promise<number[][]> {
  const loaded = [];
  for (const m of models) {
    const rt = await loadTfliteModel(m.bytes, { threads: m.threads ?? 1 });
    const spec = rt.inputs[0];
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const x = spec.dtype === 'float32' ? new Float32Array(n).fill(0.5) : new Int8Array(n);
    loaded.push({ rt, x, t: [] as number[] });
  }
  try {
    for (let i = 0; i < runs + 3; i++) {
      for (const l of loaded) {
        const t0 = performance.now();
        l.rt.infer([l.x]);
        if (i >= 3) l.t.push(performance.now() - t0);
      }
    }
    return loaded.map((l) => l.t);
  } finally {
    for (const l of loaded) l.rt.dispose();
  }
}
