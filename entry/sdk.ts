/** `edge-dmp/sdk`: re-exports @edge-dmp/sdk. */
export * from '@edge-dmp/sdk';
