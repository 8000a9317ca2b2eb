import { subscribeResults } from '@edge-dmp/host';
import { type ResultPayload, connectionFromFlags, MQTT_CONNECTION_FLAGS } from '@edge-dmp/device';
import { ConfigError, num, parseFlags, type Command } from '@edge-dmp/core';

/** One table row per device, redrawn in place on a TTY. */
function table(rows: Map<string, ResultPayload>, total: number, dups: number): string {
  const head = ['device', 'seq', 'label', 'score', 'latency ms', 'age s'];
  const now = Date.now();
  const body = [...rows.values()].map((r) => [
    r.deviceId,
    String(r.seq),
    r.label,
    r.score.toFixed(3),
    r.latencyMs.total.toFixed(1),
    ((now - r.ts) / 1000).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [
    line(head),
    ...body.map(line),
    '',
    `${total} results, ${dups} duplicates dropped (Ctrl-C to quit)`,
  ].join('\n');
}

const command: Command = {
  summary: 'Watch classification results over MQTT (a live table on a TTY, JSON lines otherwise).',
  usage:
    'edge-dmp watch --mqtt <url> [--device <id>] [--json] [--count N] [--prefix <topic>] ' +
    '[--username <u>] [--password <p>] [--ca <pem>] [--cert <pem> --key <pem>]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...MQTT_CONNECTION_FLAGS,
      device: { type: 'string' },
      json: { type: 'boolean' },
      count: { type: 'string' },
    });
    const conn = connectionFromFlags(values);
    if (!conn)
      throw new ConfigError({ field: '--mqtt', expected: 'a broker URL such as mqtt://localhost:1883' });
    const count = values.count === undefined ? Infinity : num('--count', values.count);
    if (count !== Infinity && (!Number.isInteger(count) || count < 1)) {
      throw new ConfigError({ field: '--count', expected: 'an integer >= 1', received: values.count });
    }
    const jsonLines = values.json === true || !process.stdout.isTTY;
    const rows = new Map<string, ResultPayload>();
    let seen = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const sub = subscribeResults({ ...conn, deviceId: values.device ?? '+', prefix: values.prefix }, (r) => {
      seen++;
      if (jsonLines) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        rows.set(r.deviceId, r);
        process.stdout.write(`\x1b[H\x1b[2J${table(rows, seen, sub.stats.duplicates)}\n`);
      }
      if (seen >= count) finish();
    });
    const stop = () => finish();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await Promise.race([sub.ready, done]);
      if (!jsonLines) process.stdout.write(`\x1b[H\x1b[2J${table(rows, seen, 0)}\n`);
      await done;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await sub.close();
    }
    return 0;
  },
};
export default command;
