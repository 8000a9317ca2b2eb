/**
 * Preflight: what the board is (arch, Node, glibc, memory, disk, camera, systemd, model), read over
 * the transport before anything is installed, and whether the profile the user named matches it.
 * Before the runtime is on the board there is no `edge-dmp device-info` to ask, so the same facts
 * are read with a POSIX shell script; once the runtime is installed, `device-info --json` is used.
 */
import { ConfigError } from '@edge-dmp/core';
import { DeployError } from './errors.js';
import { UNAME_TO_ARCH, type RuntimeArch, type RuntimeLibc } from './runtime-tarball.js';
import { sh, type Transport } from './transport.js';

export const PROFILES = ['jetson', 'rpi5', 'rpi4', 'zero2', 'generic'] as const;
export type Profile = (typeof PROFILES)[number];
/** What `--device` accepts. */
export const DEVICE_FLAGS = ['jetson', 'rpi5', 'rpi4', 'zero2', 'auto'] as const;

export interface BoardFacts {
  uname: string;
  arch: RuntimeArch | undefined;
  libc: RuntimeLibc;
  /** e.g. `20.20.2`; undefined when node is not on PATH. */
  node?: string;
  nodePath?: string;
  /** e.g. `2.36`. */
  glibc?: string;
  memMb: number;
  /** Free disk at (the nearest existing parent of) the prefix. */
  diskFreeMb: number;
  cores: number;
  model: string;
  /** First line of /etc/nv_tegra_release, e.g. `# R36 (release), REVISION: 3.0, ...`. */
  l4t?: string;
  cameras: string[];
  systemd: boolean;
  profile: Profile;
}

/** Device-tree model text -> profile (first match wins). */
const MODEL_PROFILES: [RegExp, Profile][] = [
  [/NVIDIA Jetson|Jetson/i, 'jetson'],
  [/Raspberry Pi 5/i, 'rpi5'],
  [/Raspberry Pi 4|Raspberry Pi Compute Module 4/i, 'rpi4'],
  [/Raspberry Pi Zero 2/i, 'zero2'],
];

/** Minimums for the runtime: Node 20's official Linux builds need glibc 2.28 (L4T R32 ships 2.27). */
export const REQUIREMENTS = { nodeMajor: 20, glibc: [2, 28] as const, memMb: 256, diskMb: 200 };

function factsScript(prefix: string, root: string): string {
  const r = root.replace(/\/$/, '');
  return [
    `R=${sh(r)}`,
    `d=${sh(prefix)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done`,
    'echo "uname=$(uname -m)"',
    'n=$(command -v node || true); echo "nodePath=$n"; [ -n "$n" ] && echo "node=$("$n" -v)"',
    'echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d" " -f2)"',
    'ldd --version 2>&1 | grep -qi musl && echo libc=musl',
    `echo "memKb=$(awk '/^MemTotal/{print $2}' /proc/meminfo)"`,
    `echo "diskKb=$(df -Pk "$d" | awk 'NR==2{print $4}')"`,
    'echo "cores=$(nproc 2>/dev/null || echo 1)"',
    `echo "model=$(tr -d '\\000' < "$R/proc/device-tree/model" 2>/dev/null)"`,
    'echo "l4t=$(head -n1 "$R/etc/nv_tegra_release" 2>/dev/null)"',
    'echo "cameras=$(ls "$R"/dev/video* 2>/dev/null | tr "\\n" " ")"',
    '[ -d /run/systemd/system ] && echo systemd=1 || echo systemd=0',
  ].join('\n');
}

/** Profile from the device-tree model / L4T release. */
export function detectProfile(model: string, l4t?: string): Profile {
  if (l4t) return 'jetson';
  return MODEL_PROFILES.find(([re]) => re.test(model))?.[1] ?? 'generic';
}

/** Parses the script's `key=value` lines. */
export function parseFacts(text: string): BoardFacts {
  const kv: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  const model = kv.model ?? '';
  const l4t = kv.l4t || undefined;
  return {
    uname: kv.uname ?? '',
    arch: UNAME_TO_ARCH[kv.uname ?? ''],
    libc: kv.libc === 'musl' ? 'musl' : 'glibc',
    node: kv.node ? kv.node.replace(/^v/, '') : undefined,
    nodePath: kv.nodePath || undefined,
    glibc: kv.glibc || undefined,
    memMb: Math.round(Number(kv.memKb ?? 0) / 1024),
    diskFreeMb: Math.round(Number(kv.diskKb ?? 0) / 1024),
    cores: Number(kv.cores ?? 1),
    model,
    l4t,
    cameras: (kv.cameras ?? '').split(' ').filter(Boolean),
    systemd: kv.systemd === '1',
    profile: detectProfile(model, l4t),
  };
}

/**
 * Reads the board's facts.
 * @example const facts = await readFacts(t, '/opt/edge-dmp');
 */
export async function readFacts(t: Transport, prefix: string, root = '/'): Promise<BoardFacts> {
  const r = await t.exec(factsScript(prefix, root));
  if (r.code !== 0 && !r.stdout)
    throw new DeployError(
      'E_PREFLIGHT',
      { field: '--host', expected: 'a POSIX shell on the board', received: r.stderr.trim() },
      `preflight on ${t.name} failed: ${r.stderr.trim()}`,
    );
  return parseFacts(r.stdout);
}

const older = (v: string, min: readonly number[]) => {
  const p = v.split('.').map(Number);
  for (let i = 0; i < min.length; i++) if ((p[i] ?? 0) !== min[i]) return (p[i] ?? 0) < min[i];
  return false;
};

/** Each reason this board cannot run the runtime (empty = it can). */
export function blockers(f: BoardFacts): string[] {
  const out: string[] = [];
  if (!f.arch)
    out.push(`unsupported CPU ${JSON.stringify(f.uname)} (expected aarch64, armv7l/armv6l or x86_64)`);
  if (!f.node) out.push('no node on PATH (Node >= 20 is needed)');
  else if (Number(f.node.split('.')[0]) < REQUIREMENTS.nodeMajor)
    out.push(`Node ${f.node} is too old (>= ${REQUIREMENTS.nodeMajor} needed)`);
  if (f.libc === 'glibc' && f.glibc && older(f.glibc, REQUIREMENTS.glibc))
    out.push(
      `glibc ${f.glibc} is too old for Node ${REQUIREMENTS.nodeMajor} (>= ${REQUIREMENTS.glibc.join('.')} needed${f.l4t ? `; L4T ${f.l4t.slice(2, 5).trim()}` : ''})`,
    );
  if (f.memMb && f.memMb < REQUIREMENTS.memMb)
    out.push(`${f.memMb} MB memory (>= ${REQUIREMENTS.memMb} MB needed)`);
  if (f.diskFreeMb < REQUIREMENTS.diskMb)
    out.push(`${f.diskFreeMb} MB free disk at the prefix (>= ${REQUIREMENTS.diskMb} MB needed)`);
  return out;
}

/**
 * Checks `--device` against the detected profile; returns the profile to use.
 * @example matchProfile('auto', facts) // 'jetson' on a Jetson
 */
export function matchProfile(device: string, f: BoardFacts, host: string): Profile {
  if (!(DEVICE_FLAGS as readonly string[]).includes(device))
    throw new ConfigError({ field: '--device', expected: DEVICE_FLAGS.join(' | '), received: device });
  if (device === 'auto') return f.profile;
  if (device !== f.profile)
    throw new DeployError(
      'E_PREFLIGHT',
      {
        field: '--device',
        expected: `the detected profile ${f.profile} (${f.model || 'no device-tree model'}${f.l4t ? `, ${f.l4t}` : ''})`,
        received: device,
      },
      `${host}: --device ${device} does not match the board: it reads as ${f.profile} (${f.model || 'no device-tree model'}); use --device ${f.profile} or --device auto`,
    );
  return device as Profile;
}
