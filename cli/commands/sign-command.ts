import { loadPrivateKey } from '@edge-dmp/converter';
import { signCommand } from '@edge-dmp/device';
import { ConfigError, parseFlags, type Command } from '@edge-dmp/core';

const command: Command = {
  summary: 'Print a signed MQTT command payload for a device run with --command-key (Ed25519, keygen keys).',
  usage: [
    'edge-dmp sign-command --key <edmp.key> --topic <prefix>/cmd/<name> [--args <json>]',
    '',
    '  e.g. mosquitto_pub -t edge-dmp/cam1/cmd/set-fps -q 1 \\',
    '         -m "$(edge-dmp sign-command --key keys/edmp.key --topic edge-dmp/cam1/cmd/set-fps --args \'{"fps":5}\')"',
    '  The payload carries a timestamp and a nonce: the device refuses it after 60 s or a second time.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseFlags(argv, {
      key: { type: 'string' },
      topic: { type: 'string' },
      args: { type: 'string' },
    });
    if (!values.key) throw new ConfigError({ field: '--key', expected: 'an Ed25519 private key (PEM)' });
    if (!values.topic || !/\/cmd\/[\w-]+$/.test(values.topic)) {
      throw new ConfigError({ field: '--topic', expected: '<prefix>/cmd/<name>', received: values.topic });
    }
    let args: unknown;
    if (values.args !== undefined) {
      try {
        args = JSON.parse(values.args);
      } catch (e) {
        throw new ConfigError({
          field: '--args',
          expected: 'JSON, e.g. {"fps":5}',
          received: (e as Error).message,
        });
      }
    }
    const key = await loadPrivateKey(values.key, '--key');
    console.log(signCommand({ topic: values.topic, args, key }));
    return 0;
  },
};
export default command;
