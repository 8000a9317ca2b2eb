/** `edge-dmp/device`: the device side (@edge-dmp/device), plus the host-side subscriber and dev broker it used to carry. */
export * from '@edge-dmp/device';
export * from '@edge-dmp/host';
