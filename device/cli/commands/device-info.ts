import { readDeviceInfo, type DeviceInfo } from '../../agent/device-info.js';
import { parseFlags, type Command } from '@edge-dmp/core';

function human(i: DeviceInfo): string {
  const lines = [
    `board     ${i.model ?? 'unknown'}${i.l4t ? ` (L4T ${i.l4t.release}.${i.l4t.revision}, JetPack ${i.l4t.jetpack ?? '?'})` : ''}`,
    `profile   ${i.profile}: threads ${i.defaults.threads}, source ${i.defaults.source}, memory ${i.defaults.memoryLimitMb} MiB, outbox ${i.defaults.outboxMax}`,
    `arch      ${i.arch ?? '?'}, ${i.cpu.cores} cores${i.cpu.model ? ` (${i.cpu.model})` : ''}`,
    `glibc     ${i.glibc ?? '?'}${i.node ? `, node ${i.node}` : ''}`,
    `memory    ${i.memoryMb ?? '?'} MiB, disk free ${i.diskFreeMb ?? '?'} MiB`,
    `cameras   ${i.cameras.video.join(' ') || 'no /dev/video*'}${i.cameras.libcamera ? ', libcamera' : ''}${i.cameras.nvargus ? ', nvargus' : ''}`,
    `systemd   ${i.systemd.booted ? 'running' : i.systemd.installed ? 'installed, not running' : 'absent'}`,
    i.canRun ? 'runtime   can run' : 'runtime   CANNOT run:',
    ...i.problems.map((p) => `  - ${p.check}: need ${p.need}, found ${p.found}: ${p.reason}`),
  ];
  return lines.join('\n');
}

const command: Command = {
  summary: 'Show what board this is, its profile, and whether the device runtime can run on it.',
  usage:
    'edge-dmp device-info [--root <dir>] [--json]\n\n  --root <dir>   read /proc, /etc, /dev, /lib under this root (default /)',
  async run(argv) {
    const { values: v } = parseFlags(argv, { root: { type: 'string' }, json: { type: 'boolean' } });
    const info = readDeviceInfo(v.root ?? '/');
    console.log(v.json ? JSON.stringify(info, null, 2) : human(info));
    return info.canRun ? 0 : 3;
  },
};
export default command;
