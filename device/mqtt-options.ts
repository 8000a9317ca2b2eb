/**
 * Connection options shared by the MQTT reporter and the subscriber: URL, credentials, TLS.
 * TLS material is read here so a missing file fails before any connection attempt, and a TLS
 * configuration on a plaintext URL is refused (no silent plaintext fallback).
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { ConfigError, EdgeDmpError, type ErrorDetail } from '@edge-dmp/core';

/** TLS material: PEM text, a Buffer, or a path to a PEM file. */
export interface MqttTlsOptions {
  /** CA certificate(s) that must have signed the broker's certificate. */
  ca?: string | Buffer;
  /** Client certificate and key, for brokers that require them (`require_certificate true`). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Default true. Turning it off is for debugging only. */
  rejectUnauthorized?: boolean;
  /** Host name to verify the broker certificate against, when it differs from the URL host. */
  servername?: string;
}

export interface MqttConnectionOptions {
  /** mqtt://host:port, mqtts://host:port, ws://..., wss://... */
  url: string;
  username?: string;
  password?: string;
  tls?: MqttTlsOptions;
  clientId?: string;
  /** Delay between reconnect attempts (default 1000 ms). */
  reconnectPeriodMs?: number;
  /** Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Default 30 s. */
  keepaliveS?: number;
}

/** A connection failure: E_MQTT_AUTH (refused credentials), E_MQTT_TLS (certificate), E_MQTT_CONNECT. */
export class MqttError extends EdgeDmpError {
  constructor(code: 'E_MQTT_AUTH' | 'E_MQTT_TLS' | 'E_MQTT_CONNECT', detail: ErrorDetail, message?: string) {
    super(code, detail, message);
  }
}

const SECURE = new Set(['mqtts:', 'wss:']);
const PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:']);

function pem(field: string, v: string | Buffer | undefined): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (v.includes('-----BEGIN')) return Buffer.from(v);
  try {
    return readFileSync(v);
  } catch (e) {
    throw new ConfigError({
      field,
      expected: 'a readable PEM file',
      received: `${v} (${(e as Error).message})`,
    });
  }
}

/**
 * Validates connection options and turns them into mqtt.js options.
 * @example const o = toClientOptions({ url: 'mqtts://broker:8883', tls: { ca: 'ca.pem' } }, {});
 */
export function toClientOptions(c: MqttConnectionOptions, extra: IClientOptions): IClientOptions {
  let u: URL;
  try {
    u = new URL(c.url);
  } catch {
    throw new ConfigError({
      field: 'url',
      expected: 'an MQTT URL such as mqtt://host:1883',
      received: c.url,
    });
  }
  if (!PROTOCOLS.has(u.protocol)) {
    throw new ConfigError({ field: 'url', expected: 'mqtt://, mqtts://, ws:// or wss://', received: c.url });
  }
  const secure = SECURE.has(u.protocol) || u.protocol === 'ssl:' || u.protocol === 'tls:';
  if (c.tls && !secure) {
    throw new ConfigError({
      field: 'url',
      expected: 'mqtts:// or wss:// when TLS options are given (no plaintext fallback)',
      received: c.url,
    });
  }
  if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) {
    throw new ConfigError({ field: 'tls.key', expected: 'cert and key given together', received: c.tls });
  }
  const o: IClientOptions = {
    ...extra,
    protocolVersion: 4,
    reconnectPeriod: c.reconnectPeriodMs ?? 1000,
    connectTimeout: c.connectTimeoutMs ?? 10_000,
    keepalive: c.keepaliveS ?? 30,
  };
  if (c.clientId) o.clientId = c.clientId;
  if (c.username !== undefined) o.username = c.username;
  if (c.password !== undefined) o.password = c.password;
  if (secure) {
    o.rejectUnauthorized = c.tls?.rejectUnauthorized ?? true;
    const ca = pem('tls.ca', c.tls?.ca);
    const cert = pem('tls.cert', c.tls?.cert);
    const key = pem('tls.key', c.tls?.key);
    if (ca) o.ca = ca;
    if (cert) o.cert = cert;
    if (key) o.key = key;
    if (c.tls?.servername) o.servername = c.tls.servername;
  }
  return o;
}

const AUTH_CODES = new Set([4, 5, 134, 135]);

/** Classifies an mqtt.js / socket / TLS error into a typed MqttError. */
export function toMqttError(url: string, e: Error & { code?: unknown }): MqttError {
  const code = e.code;
  if (typeof code === 'number' && AUTH_CODES.has(code)) {
    return new MqttError(
      'E_MQTT_AUTH',
      { field: 'username/password', expected: 'credentials the broker accepts', received: e.message },
      `${url}: broker refused the credentials (${e.message})`,
    );
  }
  const s = `${String(code)} ${e.message}`;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|certificate|handshake/i.test(s)) {
    return new MqttError(
      'E_MQTT_TLS',
      { field: 'tls', expected: 'a broker certificate signed by the given CA', received: s },
      `${url}: TLS failed (${s})`,
    );
  }
  return new MqttError(
    'E_MQTT_CONNECT',
    { field: 'url', expected: 'a reachable MQTT broker', received: s },
    `${url}: ${s}`,
  );
}
