/** Whether a fused training kernel can run now: the active backend is `wasm` and it is registered there. */
import * as tf from '@tensorflow/tfjs';

/**
 * Layers and the optimizer ask this in their own `call()` / `applyGradients()` to choose their
 * fast path; without `registerFastKernels()` (or on another backend) they run plain tf ops.
 * @example if (fastKernel(SWISH)) y = swish(x);
 */
export function fastKernel(kernelName: string): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined;
}
