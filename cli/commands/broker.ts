import { startBroker } from '@edge-dmp/host';
import { num, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary: 'Run a development MQTT broker (aedes, in-process) until Ctrl-C. Production: bring mosquitto.',
  usage: 'edge-dmp broker [--port 1883] [--ws-port N] [--host 127.0.0.1]',
  async run(argv) {
    const { values } = parseFlags(argv, {
      port: { type: 'string' },
      'ws-port': { type: 'string' },
      host: { type: 'string' },
    });
    const host = values.host ?? '127.0.0.1';
    const broker = await startBroker({
      port: num('--port', values.port, 1883),
      wsPort: values['ws-port'] === undefined ? undefined : num('--ws-port', values['ws-port']),
      host,
    });
    const urls = [`mqtt://${host}:${broker.port}`];
    if (broker.wsPort !== null) urls.push(`ws://${host}:${broker.wsPort}`);
    console.log(`edge-dmp broker: listening on ${urls.join(' ')}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await broker.close();
    console.log('edge-dmp broker: stopped');
    return 0;
  },
};
export default command;
