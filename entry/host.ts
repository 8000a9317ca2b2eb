/** `edge-dmp/host`: re-exports @edge-dmp/host. */
export * from '@edge-dmp/host';
