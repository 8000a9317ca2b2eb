/** `edge-dmp/converter`: re-exports @edge-dmp/converter. */
export * from '@edge-dmp/converter';
