/**
 * Subscribing to results: `subscribeResults` hands each result to the handler once per
 * (deviceId, seq), in seq order. QoS 1 may deliver a message twice (re-sends after a reconnect),
 * a device replays its outbox after a restart, and a broker that restores a session can interleave
 * its stored messages with live ones. So per device: a seq at or below the last delivered one is a
 * duplicate; a seq beyond the next expected one waits (up to `reorderMs`) for the missing ones,
 * since the device numbers published results without gaps. A gap that does not fill in time
 * (results dropped by the device's outbox bounds, or lost by a broker without persistence) is
 * skipped and counted.
 */
import { connect, type MqttClient } from 'mqtt';
import { ConfigError } from '@edge-dmp/core';
import { MqttError, toClientOptions, toMqttError, type MqttConnectionOptions } from '@edge-dmp/device';
import { parseResultPayload, type ResultPayload } from '@edge-dmp/device';

export interface SubscribeOptions extends MqttConnectionOptions {
  /** A device id or `+` for every device under `edge-dmp/` (default `+`). */
  deviceId?: string;
  /** Topic prefix of the device(s); default `edge-dmp/<deviceId>` (may contain `+`). */
  prefix?: string;
  /** Subscription QoS (default 1). */
  qos?: 0 | 1 | 2;
  /**
   * Persistent session (clean: false): with a fixed clientId the broker queues results while the
   * subscriber is away. Default false.
   */
  persistent?: boolean;
  /**
   * How long a result that arrived ahead of a missing seq waits for it (default 1000 ms; 0 hands
   * results over as they come and drops late ones as duplicates).
   */
  reorderMs?: number;
  /** Called for payloads that are not results (bad JSON, wrong version); default: counted only. */
  onInvalid?: (topic: string, payload: Buffer) => void;
  /** Called on connection errors (the client keeps reconnecting). */
  onError?: (e: MqttError) => void;
}

export interface SubscriptionStats {
  delivered: number;
  duplicates: number;
  /** Seqs skipped because they had not arrived within reorderMs. */
  gaps: number;
  invalid: number;
  /** Last seq handed to the handler, per device. */
  lastSeq: Record<string, number>;
}

export interface Subscription {
  /** Resolves once the subscription is granted; rejects with the first connection error. */
  readonly ready: Promise<void>;
  readonly stats: SubscriptionStats;
  /** Calls `cb` after each (re)subscription; useful after a broker restart. */
  onSubscribed(cb: () => void): void;
  close(): Promise<void>;
}

const ID = /^[^#/\0]+$/;

/**
 * Subscribes to results of one device or all (`deviceId: '+'`), de-duplicated by seq.
 * @example
 * const sub = subscribeResults({ url: 'mqtt://localhost:1883', deviceId: '+' }, (r) => console.log(r.deviceId, r.seq, r.label));
 * await sub.ready;
 * // ...
 * await sub.close();
 */
export function subscribeResults(
  opts: SubscribeOptions,
  handler: (r: ResultPayload, topic: string) => void,
): Subscription {
  if (typeof handler !== 'function') {
    throw new ConfigError({ field: 'handler', expected: 'a function', received: typeof handler });
  }
  const deviceId = opts.deviceId ?? '+';
  if (!ID.test(deviceId)) {
    throw new ConfigError({ field: 'deviceId', expected: 'a device id or "+"', received: deviceId });
  }
  const prefix = opts.prefix ?? `edge-dmp/${deviceId}`;
  const topic = `${prefix}/results`;
  const qos = opts.qos ?? 1;
  const reorderMs = opts.reorderMs ?? 1000;
  if (!Number.isFinite(reorderMs) || reorderMs < 0) {
    throw new ConfigError({ field: 'reorderMs', expected: 'a number >= 0', received: opts.reorderMs });
  }
  const client: MqttClient = connect(
    opts.url,
    toClientOptions(opts, {
      clientId: opts.clientId ?? `edge-dmp-watch-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      clean: !opts.persistent,
    }),
  );
  const stats: SubscriptionStats = { delivered: 0, duplicates: 0, gaps: 0, invalid: 0, lastSeq: {} };
  const waiting = new Map<
    string,
    { held: Map<number, [ResultPayload, string]>; timer: NodeJS.Timeout | null }
  >();
  const deliver = (r: ResultPayload, t: string) => {
    stats.lastSeq[r.deviceId] = r.seq;
    stats.delivered++;
    handler(r, t);
  };
  /** Hands over held results that are next in line; re-arms the timer while a gap remains. */
  const drain = (deviceId: string) => {
    const w = waiting.get(deviceId);
    if (!w) return;
    for (let next = stats.lastSeq[deviceId] + 1; w.held.has(next); next++) {
      const [r, t] = w.held.get(next)!;
      w.held.delete(next);
      deliver(r, t);
    }
    if (w.held.size === 0) {
      if (w.timer) clearTimeout(w.timer);
      waiting.delete(deviceId);
    } else if (!w.timer) {
      w.timer = setTimeout(() => {
        w.timer = null;
        const first = Math.min(...w.held.keys());
        stats.gaps += first - stats.lastSeq[deviceId] - 1;
        stats.lastSeq[deviceId] = first - 1;
        drain(deviceId);
      }, reorderMs);
      w.timer.unref();
    }
  };
  const accept = (r: ResultPayload, t: string) => {
    const last = stats.lastSeq[r.deviceId];
    // The first result seen from a device starts its sequence (the subscriber may join mid-stream).
    if (last === undefined || reorderMs === 0) {
      if (last !== undefined && r.seq <= last) stats.duplicates++;
      else deliver(r, t);
      return;
    }
    const w = waiting.get(r.deviceId);
    if (r.seq <= last || w?.held.has(r.seq)) {
      stats.duplicates++;
      return;
    }
    if (r.seq === last + 1) {
      deliver(r, t);
    } else if (w) {
      w.held.set(r.seq, [r, t]);
    } else {
      waiting.set(r.deviceId, { held: new Map([[r.seq, [r, t]]]), timer: null });
    }
    drain(r.deviceId);
  };
  const subscribed: (() => void)[] = [];
  let settle: { resolve: () => void; reject: (e: MqttError) => void } | null = null;
  const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Keep an unobserved rejection from crashing callers that only use the handler.
  ready.catch(() => undefined);

  client.on('connect', (connack) => {
    // A resumed persistent session still has the subscription; subscribing again is harmless.
    void connack;
    client.subscribe(topic, { qos }, (err) => {
      if (err) {
        const e = toMqttError(opts.url, err);
        settle?.reject(e);
        opts.onError?.(e);
        return;
      }
      settle?.resolve();
      settle = null;
      for (const cb of subscribed) cb();
    });
  });
  client.on('error', (err) => {
    const e = toMqttError(opts.url, err);
    settle?.reject(e);
    settle = null;
    opts.onError?.(e);
  });
  client.on('message', (t, payload) => {
    const r = parseResultPayload(payload);
    if (!r) {
      stats.invalid++;
      opts.onInvalid?.(t, payload);
      return;
    }
    accept(r, t);
  });

  let closing: Promise<void> | null = null;
  return {
    ready,
    stats,
    onSubscribed: (cb) => void subscribed.push(cb),
    close: () => {
      for (const w of waiting.values()) if (w.timer) clearTimeout(w.timer);
      return (closing ??= new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
    },
  };
}
