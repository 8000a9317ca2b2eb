/**
 * One registration point for edge-dmp's training kernels (docs/training-speed.md).
 *
 * On `wasm` (the CPU path when tfjs-node is absent) it registers the gradient kernels tfjs lacks
 * there (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter/Input), faster replacements
 * for Conv2DBackpropInput and Identity, fused kernels for BatchNorm (training), swish, channel
 * duplicate / max-pool and Adam. Our own layers (BatchNorm, Swish, ChannelDuplicate, ChannelMaxPool)
 * and optimizer (EdgeDmpAdam) pick those kernels in their own call()/applyGradients() when they are
 * registered on the active backend (kernels/available.ts); other backends run plain tf ops.
 */
import * as tf from '@tensorflow/tfjs';
import {
  conv2DBackpropFilterWasm,
  conv2DBackpropInputWasm,
  keepStockConv2DBackpropInput,
  depthwiseBackpropFilterWasm,
  depthwiseBackpropInputWasm,
} from './conv-grads.js';
import {
  BN_TRAIN,
  BN_TRAIN_GRAD,
  batchNormTrainGrad,
  batchNormTrainGradWasm,
  batchNormTrainWasm,
} from './batchnorm.js';
import { SWISH, SWISH_GRAD, swishGrad, swishGradWasm, swishWasm } from './swish.js';
import { ADAM, adamWasm } from './adam.js';
import {
  DUPLICATE,
  DUPLICATE_GRAD,
  MAXPOOL,
  MAXPOOL_GRAD,
  duplicateGrad,
  duplicateGradWasm,
  duplicateWasm,
  maxPoolGrad,
  maxPoolGradWasm,
  maxPoolWasm,
} from './channel.js';
import { identityWasm, touchInputs } from './wasm-backend.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type KernelFunc = tf.KernelConfig['kernelFunc'];

/** Kernels per backend; the table is the whole registration. */
const KERNELS: Record<string, Record<string, KernelFunc>> = {
  wasm: {
    Identity: identityWasm as KernelFunc,
    Conv2DBackpropFilter: conv2DBackpropFilterWasm as KernelFunc,
    Conv2DBackpropInput: conv2DBackpropInputWasm as KernelFunc,
    DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilterWasm as KernelFunc,
    DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInputWasm as KernelFunc,
    [BN_TRAIN]: batchNormTrainWasm as KernelFunc,
    [BN_TRAIN_GRAD]: batchNormTrainGradWasm as KernelFunc,
    [SWISH]: swishWasm as KernelFunc,
    [SWISH_GRAD]: swishGradWasm as KernelFunc,
    [ADAM]: adamWasm as KernelFunc,
    [DUPLICATE]: duplicateWasm as KernelFunc,
    [DUPLICATE_GRAD]: duplicateGradWasm as KernelFunc,
    [MAXPOOL]: maxPoolWasm as KernelFunc,
    [MAXPOOL_GRAD]: maxPoolGradWasm as KernelFunc,
  },
};

const registered = new Set<string>();
let gradientsRegistered = false;

/**
 * Registers the project's training kernels for a backend (default: the active one). Idempotent.
 * Call it after `selectBackend` has loaded the backend: the wasm package registers its own
 * kernels when imported and would replace ours.
 *
 * @param backend `wasm` (the CPU training path); other backends have nothing to register.
 * @returns the kernel names registered for that backend by this or an earlier call ([] when the
 *   backend is not loaded yet or has nothing to register).
 * @example
 * await selectBackend('wasm');
 * registerFastKernels(); // ['Conv2DBackpropFilter', ...]
 */
export function registerFastKernels(backend: string = tf.getBackend()): string[] {
  const table = KERNELS[backend] ?? {};
  if (!tf.findBackendFactory(backend)) return [];
  for (const [kernelName, kernelFunc] of Object.entries(table)) {
    const key = `${backend}/${kernelName}`;
    if (registered.has(key)) continue;
    if (kernelName === 'Conv2DBackpropInput') keepStockConv2DBackpropInput();
    // Replacing a stock kernel: unregister first (registerKernel would warn).
    if (tf.getKernel(kernelName, backend)) tf.unregisterKernel(kernelName, backend);
    const run: KernelFunc =
      backend === 'wasm'
        ? (args) => {
            touchInputs(args.backend as BackendWasm, args.inputs);
            return kernelFunc(args);
          }
        : kernelFunc;
    tf.registerKernel({ kernelName, backendName: backend, kernelFunc: run });
    registered.add(key);
  }
  if (table[BN_TRAIN] && !gradientsRegistered) {
    tf.registerGradient(batchNormTrainGrad);
    tf.registerGradient(swishGrad);
    tf.registerGradient(duplicateGrad);
    tf.registerGradient(maxPoolGrad);
    gradientsRegistered = true;
  }
  return Object.keys(table);
}
