/**
 * The agent's reporters from agent.json: MQTT (outbox under `<prefix>/outbox`, so `seq` survives
 * restarts and updates), serial, and JSON lines on stdout. The reporter classes are the ones
 * `edge-dmp run` uses.
 */
import { join } from 'node:path';
import { jsonLinesReporter } from '../pipeline.js';
import type { Reporter } from '../types.js';
import type { Agent } from './agent.js';

/** Metrics while no model runs. */
const IDLE_STATS = {
  frames: 0,
  classified: 0,
  dropped: 0,
  errors: 0,
  fps: 0,
  latencyMs: { p50: 0, p95: 0 },
  uptimeS: 0,
};

/**
 * Creates the reporters agent.json asks for.
 * @example const reporters = await createReporters(agent);
 */
export async function createReporters(agent: Agent): Promise<Reporter[]> {
  const c = agent.config;
  const out: Reporter[] = [];
  const running = () =>
    (agent as unknown as { running: { pipeline: import('../pipeline.js').Pipeline } | null }).running
      ?.pipeline;
  if (c.mqtt) {
    const m = c.mqtt;
    const { MqttReporter } = await import('../mqtt-reporter.js');
    out.push(
      new MqttReporter({
        url: m.url,
        username: m.username,
        password: m.password ?? process.env.EDGE_DMP_MQTT_PASSWORD,
        tls: m.ca || m.cert || m.key ? { ca: m.ca, cert: m.cert, key: m.key } : undefined,
        deviceId: c.deviceId,
        prefix: m.prefix,
        qos: m.qos ?? 1,
        outboxDir: join(agent.prefix, 'outbox'),
        outbox: { maxEntries: m.outboxMax ?? agent.profile.outboxMax, fsync: m.fsync ?? 'interval' },
        control: {
          pause: () => running()?.pause(),
          resume: () => running()?.resume(),
          setFps: (n) => running()?.setFps(n),
          stats: () => running()?.stats() ?? IDLE_STATS,
        },
      }),
    );
  }
  if (c.serial) {
    const { SerialReporter } = await import('../serial-reporter.js');
    out.push(
      new SerialReporter({
        path: c.serial.path,
        baudRate: c.serial.baudRate,
        format: c.serial.format,
        deviceId: c.deviceId,
      }),
    );
  }
  if (c.stdout) out.push(jsonLinesReporter(process.stdout));
  return out;
}
