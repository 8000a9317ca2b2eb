import { startDashboard } from '@edge-dmp/host';
import { ConfigError, num, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary:
    'Serve a live fleet page (results, health, deploy state, commands) that reads the broker over MQTT WebSockets.',
  usage:
    'edge-dmp dashboard --mqtt <ws(s)://broker:port> [--port 8080] [--host 127.0.0.1] [--prefix edge-dmp] ' +
    '[--username <u>] [--password <p> | env EDGE_DMP_MQTT_PASSWORD]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      mqtt: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      prefix: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
    });
    if (!values.mqtt) {
      throw new ConfigError({
        field: '--mqtt',
        expected: 'the broker WebSocket URL, e.g. ws://localhost:9001',
        received: values.mqtt,
      });
    }
    let dash;
    try {
      dash = await startDashboard({
        mqttUrl: values.mqtt,
        port: num('--port', values.port, 8080),
        host: values.host,
        prefix: values.prefix,
        username: values.username,
        password: values.password ?? process.env.EDGE_DMP_MQTT_PASSWORD,
      });
    } catch (e) {
      // The server names its option (mqtt, port, prefix); the user typed the flag.
      if (e instanceof ConfigError) {
        throw new ConfigError({ field: `--${e.field}`, expected: e.expected, received: e.received });
      }
      throw e;
    }
    console.log(
      `edge-dmp dashboard: ${dash.url} (broker ${values.mqtt}, topics ${values.prefix ?? 'edge-dmp'}/+/...)`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await dash.close();
    return 0;
  },
};
export default command;
