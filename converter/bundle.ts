/** `.edmp` bundles on the converter side: writing, signing and keys; reading and verification come from core. */
export * from './bundle/write.js';
export * from './bundle/sign.js';
export * from './bundle/keys.js';
// Compatibility for code that read bundles through this module: the read side is core's.
export {
  readBundle,
  readBundleBytes,
  verifyBundle,
  extractBundle,
  loadPublicKey,
  readArchive,
  parseManifest,
  parseSignature,
  checkSignature,
  sha256Hex,
  keyIdOf,
  BundleError,
  BUNDLE_ERROR_CODES,
  DEFAULT_LIMITS,
  SCHEMA_VERSION,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  MODEL_FILE,
  LABELS_FILE,
  type BundleManifest,
  type BundleLimits,
  type BundleSource,
  type GoldenEntry,
  type ReadBundle,
  type VerifyReport,
  type FileCheck,
  type KeySource,
} from '@edge-dmp/core';
