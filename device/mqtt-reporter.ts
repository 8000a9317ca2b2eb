/**
 * MQTT reporter: results through a durable outbox (QoS 1 by default), retained status with a last
 * will, periodic metrics, and commands with replies. Topic layout and payloads: docs/mqtt.md.
 *
 * Delivery: a result is appended to the on-disk outbox (assigning its `seq`) before anything is
 * sent, and leaves the outbox only on PUBACK. At most `maxInflight` messages are handed to mqtt.js
 * at a time, in seq order; after a reconnect mqtt.js re-sends the ones it holds (oldest first) before
 * the pump continues, and after a process restart the pump starts from the oldest pending entry,
 * so the broker sees results in seq order (with possible duplicates, which subscribers drop by seq).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { ConfigError } from '@edge-dmp/core';
import {
  CMD_NAME,
  commandArgs,
  commandGate,
  runCommand,
  type CommandGate,
  type CommandPolicy,
  type DeviceControl,
} from './mqtt-commands.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import { MqttError, toClientOptions, toMqttError, type MqttConnectionOptions } from './mqtt-options.js';
import {
  createPublishPolicy,
  metricsPayload,
  resultPayload,
  topicsFor,
  type CommandReply,
  type DeviceStatus,
  type MetricsPayload,
  type PublishPolicy,
  type PublishPolicyOptions,
  type Topics,
} from './payload.js';
import type { FrameOutcome, ModelIdentity, PipelineStats, Reporter } from './types.js';

export {
  MAX_COMMAND_BYTES,
  MQTT_COMMANDS,
  parseCommandArgs,
  type CommandPolicy,
  type DeviceControl,
} from './mqtt-commands.js';

export interface MqttReporterOptions extends MqttConnectionOptions {
  deviceId: string;
  /** Topic prefix; default `edge-dmp/<deviceId>`. */
  prefix?: string;
  /** QoS of results (default 1). Status and command replies always use QoS 1, metrics QoS 0. */
  qos?: 0 | 1 | 2;
  /** Outbox directory; default `.edge-dmp/outbox/<deviceId>` under the working directory. */
  outboxDir?: string;
  /** Bounds and fsync policy of the outbox. */
  outbox?: Omit<OutboxOptions, 'dir'>;
  policy?: PublishPolicyOptions;
  /** Messages handed to the client before PUBACKs come back (default 32). */
  maxInflight?: number;
  /** Model identity for metrics before the first result arrives. */
  model?: ModelIdentity;
  control?: DeviceControl;
  /** Home Assistant discovery prefix (e.g. `homeassistant`); off when unset. */
  haDiscovery?: string;
  /** Also publish metrics on a timer from the last known stats (ms; 0 = only when metrics() is called). */
  metricsIntervalMs?: number;
  /** How long close() waits for pending results to be acknowledged (default 2000 ms). */
  closeTimeoutMs?: number;
  /** Who may command the device (default: every command, unsigned; see docs/security.md). */
  commands?: CommandPolicy;
}

export interface MqttReporterEvents {
  /** Connected, with the command and companion subscriptions acknowledged by the broker. */
  connect: [];
  offline: [];
  /** A connection failure (never thrown: the client keeps reconnecting). */
  connectError: [MqttError];
  /** A result left the outbox: the broker acknowledged `seq`. */
  published: [number];
  /** A command was handled; the reply was published. */
  command: [string, CommandReply];
  /** A command message was ignored without a reply (retained, or a name that cannot be one). */
  ignored: [topic: string, reason: string];
  /** A message on a topic subscribed with subscribeAux (the agent's OTA topics). */
  aux: [string, Buffer];
}

const EMPTY_STATS: PipelineStats = {
  frames: 0,
  classified: 0,
  dropped: 0,
  errors: 0,
  fps: 0,
  latencyMs: { p50: 0, p95: 0 },
  uptimeS: 0,
};

/** Home Assistant entities announced by discovery: [object id, topic key, value template, unit]. */
const HA_SENSORS: [string, 'results' | 'metrics', string, string | undefined][] = [
  ['label', 'results', '{{ value_json.label }}', undefined],
  ['score', 'results', '{{ value_json.score }}', undefined],
  ['fps', 'metrics', '{{ value_json.fps }}', 'fps'],
  ['latency_p95', 'metrics', '{{ value_json.latencyMs.p95 }}', 'ms'],
];

/**
 * Reports pipeline outcomes over MQTT.
 * @example
 * const mqtt = new MqttReporter({ url: 'mqtt://localhost:1883', deviceId: 'cam1', outboxDir: '/var/lib/edge-dmp' });
 * pipeline.addReporter(mqtt); // or: await mqtt.report(outcome)
 * mqtt.on('published', (seq) => console.log('acked', seq));
 * await mqtt.close(); // publishes status "stopped"
 */
export class MqttReporter extends EventEmitter<MqttReporterEvents> implements Reporter {
  readonly name = 'mqtt';
  readonly deviceId: string;
  readonly topics: Topics;
  readonly outbox: Outbox;
  readonly policy: PublishPolicy;
  /** Session id of this reporter, in every result payload (subscribers de-duplicate by epoch and seq). */
  readonly epoch = randomBytes(6).toString('hex');
  control: DeviceControl | undefined;
  private readonly gate: CommandGate;
  /** Topics whose retained command we cleared: the empty message that clearing echoes is no command. */
  private readonly clearing = new Set<string>();
  private readonly client: MqttClient;
  private readonly qos: 0 | 1 | 2;
  private readonly maxInflight: number;
  private readonly url: string;
  private readonly haPrefix: string | undefined;
  private readonly closeTimeoutMs: number;
  private model: ModelIdentity | null;
  private lastStats: PipelineStats | null = null;
  /** Highest seq handed to the client; the pump continues after it. */
  private cursor = 0;
  private inflight = new Set<number>();
  private counters = { published: 0, filtered: 0, failures: 0 };
  private metricsTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** The current connection's subscriptions are acknowledged (waitConnected resolves at once). */
  private subscribed = false;
  private idleWaiters: (() => void)[] = [];
  /** Companion subscriptions (subscribeAux), renewed on every connect (the session is clean). */
  private readonly auxFilters = new Set<string>();

  constructor(opts: MqttReporterOptions) {
    super();
    if (!opts || typeof opts !== 'object') {
      throw new ConfigError({ field: 'options', expected: 'MqttReporterOptions', received: opts });
    }
    this.deviceId = opts.deviceId;
    this.topics = topicsFor(opts.deviceId, opts.prefix);
    this.qos = opts.qos ?? 1;
    if (![0, 1, 2].includes(this.qos))
      throw new ConfigError({ field: 'qos', expected: '0, 1 or 2', received: opts.qos });
    this.maxInflight = opts.maxInflight ?? 32;
    if (!Number.isInteger(this.maxInflight) || this.maxInflight < 1) {
      throw new ConfigError({
        field: 'maxInflight',
        expected: 'an integer >= 1',
        received: opts.maxInflight,
      });
    }
    this.policy = createPublishPolicy(opts.policy);
    this.control = opts.control;
    this.model = opts.model ?? null;
    this.url = opts.url;
    this.haPrefix = opts.haDiscovery;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2000;
    this.gate = commandGate(opts.commands);
    const clientOptions = toClientOptions(opts, {
      clientId: opts.clientId ?? `edge-dmp-${opts.deviceId}`,
      clean: true,
      will: { topic: this.topics.status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    // Options are validated before the outbox is opened, so a bad URL leaves no files behind.
    this.outbox = new Outbox({
      ...opts.outbox,
      dir: opts.outboxDir ?? join(process.cwd(), '.edge-dmp', 'outbox', opts.deviceId),
    });
    this.client = connect(opts.url, clientOptions);
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => {
      if (!this.closing) this.emit('offline');
    });
    this.client.on('error', (e) => this.emit('connectError', toMqttError(this.url, e)));
    this.client.on('message', (topic, payload, packet) => void this.onMessage(topic, payload, packet.retain));
    if (opts.metricsIntervalMs) {
      this.metricsTimer = setInterval(() => this.publishMetrics(), opts.metricsIntervalMs);
      this.metricsTimer.unref();
    }
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Resolves on the next (or current) connection, once its command (and companion) subscriptions
   * are acknowledged; rejects with the first connection error or
   * after `timeoutMs`.
   * @example await reporter.waitConnected(5000);
   */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.client.connected && this.subscribed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: MqttError) => {
        clearTimeout(timer);
        this.off('connect', onConnect);
        this.off('connectError', done);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      const timer = setTimeout(
        () =>
          done(
            new MqttError('E_MQTT_CONNECT', {
              field: 'url',
              expected: `a connection within ${timeoutMs} ms`,
              received: this.url,
            }),
          ),
        timeoutMs,
      );
      this.on('connect', onConnect);
      this.on('connectError', done);
    });
  }

  private onConnect(): void {
    const c = this.client;
    this.subscribed = false;
    c.publish(this.topics.status, 'online' satisfies DeviceStatus, { qos: 1, retain: true });
    if (this.haPrefix) this.publishDiscovery(this.haPrefix);
    this.pump();
    const filters = [...(this.gate.enabled ? [this.topics.cmdFilter] : []), ...this.auxFilters];
    // 'connect' (and waitConnected) wait for the SUBACK: the broker takes a command published on
    // another connection right after our CONNACK before our SUBSCRIBE (seen on a loaded CI
    // machine), and the OTA companion asks for chunks on 'connect', which must find its
    // subscription in place.
    const ready = () => {
      if (!c.connected || this.closing) return;
      this.subscribed = true;
      this.emit('connect');
    };
    if (filters.length === 0) ready();
    else c.subscribe(filters, { qos: 1 }, () => ready());
  }

  /** Appends a result to the outbox (if the policy accepts it) and sends what the window allows. */
  report(outcome: FrameOutcome): void {
    if (this.closing) return;
    if (!outcome.ok) {
      this.counters.failures++;
      return;
    }
    if (!this.policy.accept(outcome)) {
      this.counters.filtered++;
      return;
    }
    this.model = outcome.model;
    this.outbox.append(this.topics.results, (seq) =>
      JSON.stringify(resultPayload(this.deviceId, seq, outcome, this.epoch)),
    );
    this.pump();
  }

  private pump(): void {
    if (!this.client.connected) return;
    while (this.inflight.size < this.maxInflight) {
      const e = this.outbox.next(this.cursor);
      if (!e) break;
      this.cursor = e.seq;
      this.inflight.add(e.seq);
      this.client.publish(e.topic, e.body, { qos: this.qos }, (err) => {
        this.inflight.delete(e.seq);
        if (err) {
          // Only QoS 0 messages are failed on a disconnect (QoS 1/2 stay in the client's store):
          // rewind so they go out again, in order.
          this.cursor = Math.min(this.cursor, e.seq - 1);
        } else {
          this.outbox.ack(e.seq);
          this.counters.published++;
          this.emit('published', e.seq);
        }
        if (this.inflight.size === 0 && this.outbox.stats().pending === 0) {
          for (const w of this.idleWaiters.splice(0)) w();
        }
        if (!this.closing || !err) this.pump();
      });
    }
  }

  /**
   * Resolves true once every pending result is acknowledged, false after `timeoutMs`.
   * @example await reporter.flush(5000);
   */
  flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.outbox.stats().pending === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(w);
    });
  }

  /** Publishes a metrics payload built from pipeline stats (QoS 0). */
  metrics(stats: PipelineStats): void {
    this.lastStats = stats;
    this.publishMetrics();
  }

  /** The current metrics payload (also the snapshot-metrics reply). */
  snapshotMetrics(): MetricsPayload {
    const stats = this.control?.stats?.() ?? this.lastStats ?? EMPTY_STATS;
    const o = this.outbox.stats();
    return metricsPayload(this.deviceId, stats, {
      model: this.model,
      outbox: { pending: o.pending, dropped: o.dropped, bytes: o.bytes, corrupt: o.corrupt, full: o.full },
      reporter: { ...this.counters },
    });
  }

  private publishMetrics(): void {
    if (!this.client.connected || this.closing) return;
    this.outbox.expire();
    this.client.publish(this.topics.metrics, JSON.stringify(this.snapshotMetrics()), { qos: 0 });
  }

  private publishDiscovery(prefix: string): void {
    const device = {
      identifiers: [`edge-dmp-${this.deviceId}`],
      name: `edge-dmp ${this.deviceId}`,
      manufacturer: 'edge-dmp',
    };
    for (const [id, key, template, unit] of HA_SENSORS) {
      const config: Record<string, unknown> = {
        name: id,
        unique_id: `edge-dmp-${this.deviceId}-${id}`,
        state_topic: this.topics[key],
        value_template: template,
        availability_topic: this.topics.status,
        payload_available: 'online',
        payload_not_available: 'offline',
        device,
      };
      if (unit) config.unit_of_measurement = unit;
      if (id === 'label') config.json_attributes_topic = this.topics.results;
      this.client.publish(`${prefix}/sensor/${this.deviceId}/${id}/config`, JSON.stringify(config), {
        qos: 1,
        retain: true,
      });
    }
  }

  private async onMessage(topic: string, payload: Buffer, retained: boolean): Promise<void> {
    const head = `${this.topics.prefix}/cmd/`;
    if (!topic.startsWith(head)) {
      this.emit('aux', topic, payload);
      return;
    }
    if (!this.gate.enabled) return;
    const name = topic.slice(head.length);
    if (retained) {
      // A retained command would be obeyed again on every (re)connect: ignore it and clear it.
      this.clearing.add(topic);
      this.client.publish(topic, '', { qos: 1, retain: true });
      this.emit('ignored', topic, 'retained');
      return;
    }
    if (payload.length === 0 && this.clearing.delete(topic)) return;
    if (!CMD_NAME.test(name)) {
      this.emit('ignored', topic.slice(0, 200), 'not a command name');
      return;
    }
    const reply = await runCommand(this, name, () => commandArgs(this.gate, topic, name, payload));
    if (this.client.connected) {
      this.client.publish(this.topics.reply(name), JSON.stringify(reply), { qos: 1 });
    }
    this.emit('command', name, reply);
  }

  /**
   * Subscribes a companion of the reporter (the agent's OTA) to `filter` on this connection, now
   * and after every reconnect; its messages come as 'aux' events.
   * @example reporter.subscribeAux('edge-dmp/cam1/ota/chunk'); reporter.on('aux', (t, p) => ...);
   */
  subscribeAux(filter: string): void {
    this.auxFilters.add(filter);
    if (this.client.connected) this.client.subscribe(filter, { qos: 1 });
  }

  /**
   * Publishes a companion message on this connection (the agent's retained deploy state);
   * resolves true on PUBACK, false when offline or closing (the caller republishes on 'connect').
   * @example await reporter.publishAux(`${reporter.topics.prefix}/deploy`, json, { retain: true });
   */
  publishAux(
    topic: string,
    payload: string | Buffer,
    opts: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<boolean> {
    if (!this.client.connected || this.closing) return Promise.resolve(false);
    return new Promise((resolve) =>
      this.client.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) =>
        resolve(!err),
      ),
    );
  }

  /**
   * Waits up to closeTimeoutMs for pending results, publishes the retained status `stopped`
   * and disconnects. Unacknowledged results stay in the outbox for the next start.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    if (this.client.connected) await this.flush(this.closeTimeoutMs);
    this.closing = true;
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.client.connected) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.closeTimeoutMs);
        this.client.publish(
          this.topics.status,
          'stopped' satisfies DeviceStatus,
          { qos: 1, retain: true },
          () => {
            clearTimeout(t);
            resolve();
          },
        );
      });
    }
    // A graceful end sends DISCONNECT, so the broker discards the will and `stopped` stays; it
    // waits for in-flight messages, hence the forced end as a fallback (they are still in the outbox).
    await new Promise<void>((resolve) => {
      const force = () => this.client.end(true, {}, () => resolve());
      if (!this.client.connected) return force();
      const t = setTimeout(force, this.closeTimeoutMs);
      this.client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.outbox.close();
  }
}
