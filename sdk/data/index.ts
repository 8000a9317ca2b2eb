/** Datasets: loaders, data specs, augmentation and batching. */
export type { ImageDataset, RawImage, ReadOptions, DatasetSplits, DataFormat, LoadOptions } from './types.js';
export { loadCifar10, loadCifar100, CIFAR10_CLASSES } from './cifar.js';
export { loadIdx, parseIdx, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES } from './idx.js';
export { loadFolder, decodeImage, IMAGE_EXTENSIONS } from './folder.js';
export { arrayDataset } from './array.js';
export { parseDataSpec, loadData, absoluteDataSpec, type DataSpec } from './spec.js';
export { augmentRegion, sampleInto, AUGMENTS, type AugmentName, type Region } from './augment.js';
export {
  trainBatches,
  evalBatches,
  epochOrder,
  stepsPerEpoch,
  channelStats,
  resizeModeFor,
  sampleInputs,
  type Batch,
  type BatchOptions,
} from './pipeline.js';
export { Rng, hashSeed, withSeededRandom } from '@edge-dmp/core';
