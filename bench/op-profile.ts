/**
 * Per-op profile of a `.tflite` in the runtime, through TFLite's own profiler (the
 * `enableProfiling` option of the tfjs-tflite runner: per-node times of the interpreter, and the
 * XNNPACK delegate's per-operator times), for bench:profile and bench:device.
 */
import { loadTfliteModel, type OpProfile } from '../runtime/tflite-runtime.js';

export interface ProfileRow extends OpProfile {
  /** Sum of the top-level nodes' average ms (the profiled call, profiler overhead included). */
  totalMs: number;
  /** ms in builtin ops outside the delegate, by op type. */
  outsideMs: Record<string, number>;
}

/**
 * Runs `bytes` `runs` times with the profiler on and returns the averaged per-op profile.
 * @example const p = await profileTflite(bytes, 5); console.log(p.partitions, p.outside);
 */
export async function profileTflite(bytes: Uint8Array, runs = 5, threads = 1): Promise<ProfileRow> {
  const rt = await loadTfliteModel(bytes, { profile: true, threads });
  try {
    const spec = rt.inputs[0];
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const x = spec.dtype === 'float32' ? new Float32Array(n).fill(0.5) : new Int8Array(n);
    for (let i = 0; i < runs; i++) rt.infer([x]);
    const p = rt.profile();
    const outsideMs: Record<string, number> = {};
    for (const node of p.nodes)
      if (node.type !== 'TfLiteXNNPackDelegate')
        outsideMs[node.type] = (outsideMs[node.type] ?? 0) + node.avgMs;
    return { ...p, totalMs: p.nodes.reduce((a, b) => a + b.avgMs, 0), outsideMs };
  } finally {
    rt.dispose();
  }
}

/**
 * "RESHAPE x9, GATHER x3" from an op -> count table ("-" when empty).
 * @example opsOutside({ RESHAPE: 9 }) // 'RESHAPE x9'
 */
export function opsOutside(outside: Record<string, number>): string {
  const e = Object.entries(outside).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k} x${v}`).join(', ') : '-';
}
