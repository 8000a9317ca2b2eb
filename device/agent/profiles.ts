/**
 * Device profiles: the defaults a board gets (runtime threads, source, memory limit, outbox size,
 * what the runtime can take) and what a board needs to run the runtime at all. `detectProfile`
 * picks one from device-info; agent.json's `profile` may name one instead.
 */
import { ConfigError } from '@edge-dmp/core';
import { DEFAULT_CAPABILITIES, type BoardCapabilities } from './acceptance.js';

export interface Profile {
  name: string;
  description: string;
  threads: number;
  /** Default frame source URI. */
  source: string;
  /** Memory the agent should stay under (systemd MemoryMax), MiB. */
  memoryLimitMb: number;
  /** Outbox bound (pending results kept while offline). */
  outboxMax: number;
  capabilities: BoardCapabilities;
}

const MB = 2 ** 20;

/** The profiles by name. */
export const PROFILES: Record<string, Profile> = {
  jetson: {
    name: 'jetson',
    description: 'NVIDIA Jetson (Nano: L4T R32, Xavier/Orin: R35, Orin: R36); CSI camera through nvargus',
    threads: 4,
    source: 'csi://0',
    memoryLimitMb: 2048,
    outboxMax: 200_000,
    capabilities: { ...DEFAULT_CAPABILITIES },
  },
  rpi5: {
    name: 'rpi5',
    description: 'Raspberry Pi 5 (Cortex-A76 x4); camera through rpicam/libcamera',
    threads: 4,
    source: 'rpicam:',
    memoryLimitMb: 1024,
    outboxMax: 100_000,
    capabilities: { ...DEFAULT_CAPABILITIES, maxModelBytes: 128 * MB },
  },
  rpi4: {
    name: 'rpi4',
    description: 'Raspberry Pi 4 (Cortex-A72 x4); camera through rpicam/libcamera',
    threads: 4,
    source: 'rpicam:',
    memoryLimitMb: 768,
    outboxMax: 50_000,
    capabilities: { ...DEFAULT_CAPABILITIES, maxModelBytes: 96 * MB },
  },
  zero2: {
    name: 'zero2',
    description: 'Raspberry Pi Zero 2 W (Cortex-A53 x4, 512 MB); small models only',
    threads: 2,
    source: 'rpicam:',
    memoryLimitMb: 256,
    outboxMax: 10_000,
    capabilities: { ...DEFAULT_CAPABILITIES, maxModelBytes: 24 * MB, maxInputPixels: 320 * 320 },
  },
  generic: {
    name: 'generic',
    description: 'any other Linux board or PC; a V4L2 camera',
    threads: 1,
    source: 'v4l2:///dev/video0',
    memoryLimitMb: 1024,
    outboxMax: 100_000,
    capabilities: { ...DEFAULT_CAPABILITIES },
  },
};

export const PROFILE_NAMES = Object.keys(PROFILES);

/**
 * The profile of that name.
 * @example profileByName('rpi4').source // 'rpicam:'
 */
export function profileByName(name: string): Profile {
  const p = Object.hasOwn(PROFILES, name) ? PROFILES[name] : undefined;
  if (!p)
    throw new ConfigError({
      field: 'profile',
      expected: `auto or one of ${PROFILE_NAMES.join(', ')}`,
      received: name,
    });
  return p;
}

/** Device-tree model patterns -> profile, first match wins. */
const MODEL_PATTERNS: [RegExp, string][] = [
  [/jetson/i, 'jetson'],
  [/raspberry pi 5/i, 'rpi5'],
  [/raspberry pi 4|raspberry pi compute module 4/i, 'rpi4'],
  [/raspberry pi zero 2/i, 'zero2'],
];

/**
 * Picks a profile from the device-tree model string (an L4T release alone also means Jetson).
 * @example detectProfile('Raspberry Pi 5 Model B Rev 1.0', null) // 'rpi5'
 */
export function detectProfile(model: string | null, l4tRelease: string | null): string {
  for (const [re, name] of MODEL_PATTERNS) if (model && re.test(model)) return name;
  return l4tRelease ? 'jetson' : 'generic';
}

/** L4T major release -> JetPack line, Ubuntu base and glibc (NVIDIA's release tables). */
export const L4T_RELEASES: Record<
  string,
  { jetpack: string; ubuntu: string; glibc: string; boards: string }
> = {
  R32: { jetpack: '4.x', ubuntu: '18.04', glibc: '2.27', boards: 'Nano, TX1/TX2, Xavier' },
  R34: { jetpack: '5.0 (developer preview)', ubuntu: '20.04', glibc: '2.31', boards: 'Xavier, Orin' },
  R35: { jetpack: '5.x', ubuntu: '20.04', glibc: '2.31', boards: 'Xavier, Orin' },
  R36: { jetpack: '6.x', ubuntu: '22.04', glibc: '2.35', boards: 'Orin' },
};

/** What the device runtime needs of a board. */
export const RUNTIME_NEEDS = {
  /** Node's official Linux builds since 18 are linked against glibc 2.28. */
  glibc: '2.28',
  node: 20,
  arch: ['arm64', 'arm', 'x64'],
  memoryMb: 400,
  diskFreeMb: 200,
} as const;
