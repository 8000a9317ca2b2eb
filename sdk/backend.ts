/**
 * Backend selection, in one place. Order: tfjs-node-gpu, tfjs-node, wasm, cpu.
 * tfjs-node(-gpu) are optional peer dependencies: used when they load, never required.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { ConfigError } from '@edge-dmp/core';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** CLI/user aliases for backend names. */
const ALIASES: Record<string, BackendName> = {
  'node-gpu': 'tensorflow-gpu',
  gpu: 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const require = createRequire(import.meta.url);
// PROD silences tfjs' console banner ("install the node backend") and debug checks; we print our own
// backend line instead.
tf.env().set('PROD', true);
let wasmRegistered = false;
let loaded: BackendName | undefined;

async function tryLoad(name: BackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow-gpu') {
      require('@tensorflow/tfjs-node-gpu');
      // tfjs-node-gpu registers under the name 'tensorflow'.
      return await tf.setBackend('tensorflow');
    }
    if (name === 'tensorflow') {
      require('@tensorflow/tfjs-node');
      return await tf.setBackend('tensorflow');
    }
    if (name === 'wasm') {
      if (!wasmRegistered) {
        await import('@tensorflow/tfjs-backend-wasm');
        wasmRegistered = true;
      }
      return await tf.setBackend('wasm');
    }
    return await tf.setBackend('cpu');
  } catch {
    return false;
  }
}

/**
 * Selects and initialises a tfjs backend.
 *
 * @param requested a name or alias (`node-gpu`, `node`, `wasm`, `cpu`); `auto`/undefined tries them in order.
 * @returns the backend tfjs now runs on.
 * @example
 * const name = await selectBackend(); // 'wasm' on a machine without tfjs-node
 */
export async function selectBackend(requested?: string): Promise<BackendName> {
  if (requested && requested !== 'auto') {
    const name = ALIASES[requested];
    if (!name) {
      throw new ConfigError({
        field: '--backend',
        expected: `one of auto, ${Object.keys(ALIASES).join(', ')}`,
        received: requested,
      });
    }
    if (!(await tryLoad(name))) {
      throw new ConfigError(
        { field: '--backend', expected: 'a backend that loads on this machine', received: requested },
        `--backend: ${requested} does not load here (for tensorflow backends install @tensorflow/tfjs-node or -gpu)`,
      );
    }
    loaded = name;
    await tf.ready();
    return name;
  }
  for (const name of BACKENDS) {
    if (await tryLoad(name)) {
      loaded = name;
      await tf.ready();
      return name;
    }
  }
  throw new ConfigError({ field: '--backend', expected: 'any loadable tfjs backend', received: 'none' });
}

/** The backend chosen by the last `selectBackend`, if any. */
export function currentBackend(): BackendName | undefined {
  return loaded;
}
