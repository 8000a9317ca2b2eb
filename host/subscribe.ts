/**
 * Subscribing to results: `subscribeResults` hands each result to the handler once per
 * (deviceId, epoch, seq), in seq order. QoS 1 may deliver a message twice (re-sends after a
 * reconnect), a device replays its outbox after a restart, and a broker that restores a session can
 * interleave its stored messages with live ones. So per (device, epoch) stream: a seq already
 * delivered is a duplicate (membership, not "at or below the last": a forged huge seq must not make
 * genuine results look old; they are handed over late instead); a seq beyond the next expected one
 * waits (up to `reorderMs`) for the missing ones, since the device numbers published results
 * without gaps. A gap that does not fill in time (results dropped by the device's outbox bounds, or
 * lost by a broker without persistence) is skipped and counted. `epoch` is new at each device start,
 * so a device whose seq restarted is a new stream.
 */
import { connect, type MqttClient } from 'mqtt';
import { ConfigError } from '@edge-dmp/core';
import {
  MqttError,
  toClientOptions,
  toMqttError,
  type MqttConnectionOptions,
  parseResultPayload,
  type ResultPayload,
} from '@edge-dmp/device';

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
  /** Results delivered after a higher seq of their stream (after a skipped gap, or a forged seq). */
  late: number;
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

/** Delivery state of one (device, epoch) stream. */
interface Stream {
  /** Highest seq handed over (or skipped past). */
  last: number;
  /** Recently delivered seqs (at most SEEN_MAX, oldest forgotten first). */
  seen: Set<number>;
  held: Map<number, [ResultPayload, string]>;
  timer: NodeJS.Timeout | null;
}
const SEEN_MAX = 65_536;
const STREAMS_MAX = 4096;

function remember(st: Stream, seq: number): void {
  st.seen.add(seq);
  if (st.seen.size > SEEN_MAX) st.seen.delete(st.seen.values().next().value as number);
}

/** Bounds memory against a flood of forged epochs: the oldest streams are forgotten. */
function forgetStreams(streams: Map<string, Stream>): void {
  while (streams.size > STREAMS_MAX) {
    const [k, st] = streams.entries().next().value as [string, Stream];
    if (st.timer) clearTimeout(st.timer);
    streams.delete(k);
  }
}

/**
 * Subscribes to results of one device or all (`deviceId: '+'`), de-duplicated by (epoch, seq).
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
  const stats: SubscriptionStats = { delivered: 0, duplicates: 0, gaps: 0, invalid: 0, late: 0, lastSeq: {} };
  // One stream per (device, epoch): a device's new session, or a forged epoch, starts its own.
  const streams = new Map<string, Stream>();
  const deliver = (st: Stream, r: ResultPayload, t: string) => {
    remember(st, r.seq);
    stats.lastSeq[r.deviceId] = r.seq;
    stats.delivered++;
    handler(r, t);
  };
  /** Hands over held results that are next in line; re-arms the timer while a gap remains. */
  const drain = (st: Stream) => {
    for (let next = st.last + 1; st.held.has(next); next++) {
      const [r, t] = st.held.get(next)!;
      st.held.delete(next);
      st.last = next;
      deliver(st, r, t);
    }
    if (st.held.size === 0) {
      if (st.timer) clearTimeout(st.timer);
      st.timer = null;
    } else if (!st.timer) {
      st.timer = setTimeout(() => {
        st.timer = null;
        const first = Math.min(...st.held.keys());
        stats.gaps += first - st.last - 1;
        st.last = first - 1;
        drain(st);
      }, reorderMs);
      st.timer.unref();
    }
  };
  const accept = (r: ResultPayload, t: string) => {
    const key = `${r.deviceId}\0${r.epoch ?? ''}`;
    let st = streams.get(key);
    if (!st) {
      // The first result seen of a stream starts it (the subscriber may join mid-stream).
      st = { last: r.seq, seen: new Set(), held: new Map(), timer: null };
      streams.set(key, st);
      forgetStreams(streams);
      return deliver(st, r, t);
    }
    // A duplicate is a (epoch, seq) already seen, never "seq <= last": a forged huge seq then
    // cannot make genuine results look like duplicates; they arrive late instead.
    if (st.seen.has(r.seq) || st.held.has(r.seq)) {
      stats.duplicates++;
      return;
    }
    if (r.seq <= st.last) {
      stats.late++;
      return deliver(st, r, t);
    }
    if (reorderMs === 0 || r.seq === st.last + 1) {
      st.last = r.seq;
      deliver(st, r, t);
    } else st.held.set(r.seq, [r, t]);
    drain(st);
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
      for (const st of streams.values()) if (st.timer) clearTimeout(st.timer);
      return (closing ??= new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
    },
  };
}
