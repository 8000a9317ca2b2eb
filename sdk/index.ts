/** edge-dmp SDK (training side): the explicit public API. */
export * from './errors.js';
export { selectBackend, currentBackend, BACKENDS, type BackendName } from './backend.js';
export { defaultPreprocess, type PreprocessSpec, type ResizeMode } from './preprocess.js';
