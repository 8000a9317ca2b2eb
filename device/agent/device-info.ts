/**
 * What board this is, read from files under a root prefix (`/` on the board, a faked tree in
 * tests): device-tree model, L4T release, cpuinfo, the userland's dynamic loader (arch), glibc,
 * memory, cores, cameras, systemd. Then the profile and whether the device runtime can run here,
 * naming every unmet need.
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compareVersions } from './acceptance.js';
import { detectProfile, L4T_RELEASES, profileByName, RUNTIME_NEEDS, type Profile } from './profiles.js';

export interface DeviceInfo {
  root: string;
  /** /proc/device-tree/model (NUL stripped). */
  model: string | null;
  l4t: { release: string; revision: string; jetpack: string | null; ubuntu: string | null } | null;
  /** Node's arch names: arm64, arm, x64 (from the dynamic loader present; process.arch on `/`). */
  arch: string | null;
  cpu: { cores: number; model: string | null };
  glibc: string | null;
  /** Node version of this process on `/`; null for a faked root. */
  node: string | null;
  memoryMb: number | null;
  diskFreeMb: number | null;
  cameras: { video: string[]; libcamera: boolean; nvargus: boolean };
  systemd: { booted: boolean; installed: boolean };
  profile: string;
  defaults: Omit<Profile, 'capabilities' | 'description'>;
  canRun: boolean;
  /** Unmet needs: what the runtime needs and what this board has. */
  problems: { check: string; need: string; found: string; reason: string }[];
}

function read(root: string, p: string): string | null {
  try {
    return readFileSync(join(root, p), 'utf8');
  } catch {
    return null;
  }
}

/** Dynamic loaders by Node arch: which one exists says what the userland runs. */
const LOADERS: [string, string][] = [
  ['lib/ld-linux-aarch64.so.1', 'arm64'],
  ['lib/ld-linux-armhf.so.3', 'arm'],
  ['lib64/ld-linux-x86-64.so.2', 'x64'],
];

const LIBC_PATHS = [
  'lib/aarch64-linux-gnu/libc.so.6',
  'lib/arm-linux-gnueabihf/libc.so.6',
  'lib/x86_64-linux-gnu/libc.so.6',
  'usr/lib/aarch64-linux-gnu/libc.so.6',
  'usr/lib/arm-linux-gnueabihf/libc.so.6',
  'usr/lib/x86_64-linux-gnu/libc.so.6',
  'lib64/libc.so.6',
];

/** glibc's version banner ("... stable release version 2.35.") from the libc binary itself. */
function glibcOf(root: string): string | null {
  if (root === '/')
    return (
      (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header
        ?.glibcVersionRuntime ?? null
    );
  for (const p of LIBC_PATHS) {
    try {
      const m = /release version (\d+\.\d+)/.exec(readFileSync(join(root, p)).toString('latin1'));
      if (m) return m[1];
    } catch {
      // not this one
    }
  }
  return null;
}

function l4tOf(text: string | null): DeviceInfo['l4t'] {
  const m = text && /#\s*(R\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)/.exec(text);
  if (!m) return null;
  const rel = L4T_RELEASES[m[1]];
  return { release: m[1], revision: m[2], jetpack: rel?.jetpack ?? null, ubuntu: rel?.ubuntu ?? null };
}

function libcameraOf(root: string): boolean {
  if (['usr/bin/rpicam-hello', 'usr/bin/libcamera-hello'].some((p) => existsSync(join(root, p)))) return true;
  for (const d of ['usr/lib/aarch64-linux-gnu', 'usr/lib/arm-linux-gnueabihf', 'usr/lib/x86_64-linux-gnu']) {
    try {
      if (readdirSync(join(root, d)).some((f) => f.startsWith('libcamera.so'))) return true;
    } catch {
      // absent
    }
  }
  return false;
}

function diskFreeMb(root: string): number | null {
  try {
    const s = statfsSync(root);
    return Math.floor((s.bavail * s.bsize) / 2 ** 20);
  } catch {
    return null;
  }
}

/** The runtime's needs as checks: [name, need, found, ok]. */
function checks(i: DeviceInfo): DeviceInfo['problems'] {
  const out: DeviceInfo['problems'] = [];
  const need = (check: string, ok: boolean, needText: string, found: string, reason: string) => {
    if (!ok) out.push({ check, need: needText, found, reason });
  };
  need(
    'arch',
    i.arch !== null && (RUNTIME_NEEDS.arch as readonly string[]).includes(i.arch),
    RUNTIME_NEEDS.arch.join(' | '),
    i.arch ?? 'unknown',
    'Node 20 has no build for this userland',
  );
  const l4tNote = i.l4t ? ` (L4T ${i.l4t.release} is Ubuntu ${i.l4t.ubuntu ?? '?'})` : '';
  need(
    'glibc',
    i.glibc !== null && compareVersions(i.glibc, RUNTIME_NEEDS.glibc) >= 0,
    `>= ${RUNTIME_NEEDS.glibc}`,
    i.glibc ?? 'unknown',
    `cannot run Node ${RUNTIME_NEEDS.node}: its Linux builds need glibc ${RUNTIME_NEEDS.glibc}, this board has ${i.glibc ?? 'no readable glibc'}${l4tNote}`,
  );
  if (i.node)
    need(
      'node',
      Number(i.node.replace(/^v/, '').split('.')[0]) >= RUNTIME_NEEDS.node,
      `>= ${RUNTIME_NEEDS.node}`,
      i.node,
      'Node too old for the device runtime',
    );
  need(
    'memory',
    i.memoryMb !== null && i.memoryMb >= RUNTIME_NEEDS.memoryMb,
    `>= ${RUNTIME_NEEDS.memoryMb} MiB`,
    `${i.memoryMb ?? '?'} MiB`,
    'too little memory for Node and a model',
  );
  need(
    'disk',
    i.diskFreeMb !== null && i.diskFreeMb >= RUNTIME_NEEDS.diskFreeMb,
    `>= ${RUNTIME_NEEDS.diskFreeMb} MiB free`,
    `${i.diskFreeMb ?? '?'} MiB`,
    'too little disk for the runtime and two model slots',
  );
  return out;
}

/**
 * Reads the board under `root`.
 * @example const info = readDeviceInfo('/'); console.log(info.profile, info.canRun, info.problems);
 */
export function readDeviceInfo(root = '/'): DeviceInfo {
  const r = resolve(root);
  const model = read(r, 'proc/device-tree/model')?.replace(/\0/g, '').trim() || null;
  const l4t = l4tOf(read(r, 'etc/nv_tegra_release'));
  const cpuinfo = read(r, 'proc/cpuinfo') ?? '';
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const cpuModel = /^(?:model name|Model|Hardware)\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? null;
  const mem = /^MemTotal:\s*(\d+)\s*kB/m.exec(read(r, 'proc/meminfo') ?? '');
  let video: string[] = [];
  try {
    video = readdirSync(join(r, 'dev'))
      .filter((f) => /^video\d+$/.test(f))
      .sort()
      .map((f) => `/dev/${f}`);
  } catch {
    // no /dev
  }
  const profile = detectProfile(model, l4t?.release ?? null);
  const p = profileByName(profile);
  const info: DeviceInfo = {
    root: r,
    model,
    l4t,
    arch: r === '/' ? process.arch : (LOADERS.find(([f]) => existsSync(join(r, f)))?.[1] ?? null),
    cpu: { cores, model: cpuModel },
    glibc: glibcOf(r),
    node: r === '/' ? process.version : null,
    memoryMb: mem ? Math.floor(Number(mem[1]) / 1024) : null,
    diskFreeMb: diskFreeMb(r),
    cameras: { video, libcamera: libcameraOf(r), nvargus: existsSync(join(r, 'usr/sbin/nvargus-daemon')) },
    systemd: {
      booted: existsSync(join(r, 'run/systemd/system')),
      installed: ['bin/systemctl', 'usr/bin/systemctl'].some((f) => existsSync(join(r, f))),
    },
    profile,
    defaults: {
      name: p.name,
      threads: Math.max(1, Math.min(p.threads, cores || 1)),
      source: p.source,
      memoryLimitMb: p.memoryLimitMb,
      outboxMax: p.outboxMax,
    },
    canRun: true,
    problems: [],
  };
  info.problems = checks(info);
  info.canRun = info.problems.length === 0;
  return info;
}
