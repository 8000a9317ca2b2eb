/** @edge-dmp/host: host-side tools: the dev MQTT broker, the result subscriber, the fleet dashboard. */
export { type BrokerOptions, type DevBroker, startBroker } from './broker.js';
export {
  type SubscribeOptions,
  type SubscriptionStats,
  type Subscription,
  subscribeResults,
} from './subscribe.js';
export { type DashboardOptions, type Dashboard, startDashboard } from './dashboard/server.js';
