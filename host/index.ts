/** @edge-dmp/host: host-side tools: the dev MQTT broker and the result subscriber. */
export { type BrokerOptions, type DevBroker, startBroker } from './broker.js';
export {
  type SubscribeOptions,
  type SubscriptionStats,
  type Subscription,
  subscribeResults,
} from './subscribe.js';
