/** `edge-dmp/device`: the device side (@edge-dmp/device), plus the host-side subscriber and dev broker it used to carry. */
export * from '@edge-dmp/device';
export {
  startBroker,
  subscribeResults,
  type BrokerOptions,
  type DevBroker,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionStats,
} from '@edge-dmp/host';
