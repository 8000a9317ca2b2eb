/** `edge-dmp/core`: re-exports @edge-dmp/core. */
export * from '@edge-dmp/core';
