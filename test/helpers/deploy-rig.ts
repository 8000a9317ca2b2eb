/**
 * What the SSH deploy tests start before their boards: a real sshd, a real mosquitto, signing keys
 * and an x64 runtime tarball of the compiled packages (built first), all under `dir`.
 */
import { join } from 'node:path';
import { buildRuntimeTarball, type RuntimeTarball } from '../../host/deploy/runtime-tarball.js';
import { makeKeys, type Keys } from './agent-fixtures.js';
import { startMosquitto, type Mosquitto } from './mqtt-harness.js';
import { build } from './packages.js';
import { startSshd, type Sshd } from './sshd.js';

export interface DeployRig {
  sshd: Sshd;
  broker: Mosquitto;
  keys: Keys;
  runtime: RuntimeTarball;
}

export async function startDeployRig(dir: string): Promise<DeployRig> {
  build(); // the runtime tarball carries the compiled packages
  const [sshd, broker, keys, runtime] = await Promise.all([
    startSshd(),
    startMosquitto(),
    makeKeys(join(dir, 'keys')),
    buildRuntimeTarball({ arch: 'x64', out: join(dir, 'rt') }),
  ]);
  return { sshd, broker, keys, runtime };
}
