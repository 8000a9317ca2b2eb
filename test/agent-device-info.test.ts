/**
 * `edge-dmp device-info --root <faked board> --json` for a Jetson Orin (L4T R36), a Jetson Nano
 * (R32: cannot run Node 20, with the reason), a Pi 5, a Pi 4, a Zero 2 W and this machine; and the
 * systemd unit of `edge-dmp agent --install-service` through `systemd-analyze verify`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ReadlineParser, SerialPort } from 'serialport';
import { makeBundle, makeKeys, spawnAgent, writeConfig } from './helpers/agent-fixtures.js';
import { COLOUR_LABELS } from './helpers/device-models.js';
import { tempDir, until } from './helpers/mqtt-harness.js';

const dir = tempDir('agent-device-info');
after(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = join(import.meta.dirname, '..');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'edge-dmp.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const cpuinfo = (n: number, extra: string) =>
  Array.from({ length: n }, (_, i) => `processor\t: ${i}\n${extra}\n`).join('\n');
const libc = (v: string, distro: string) =>
  `\x7fELF...GNU C Library (${distro} GLIBC ${v}-1) stable release version ${v}.\n`;

interface Board {
  model?: string;
  tegra?: string;
  cores: number;
  cpu: string;
  memKb: number;
  loader: string;
  libcPath: string;
  glibc: string;
  files?: string[];
}

/** Writes a faked root: the files device-info reads, with real formats. */
function fakeRoot(name: string, b: Board): string {
  const r = join(dir, name);
  const put = (p: string, text = '') => {
    mkdirSync(dirname(join(r, p)), { recursive: true });
    writeFileSync(join(r, p), text);
  };
  if (b.model) put('proc/device-tree/model', `${b.model}\0`);
  if (b.tegra) put('etc/nv_tegra_release', b.tegra);
  put('proc/cpuinfo', cpuinfo(b.cores, b.cpu));
  put('proc/meminfo', `MemTotal:       ${b.memKb} kB\nMemFree:        1000 kB\n`);
  put(b.loader);
  put(b.libcPath, libc(b.glibc, 'Ubuntu'));
  for (const f of b.files ?? []) {
    if (f.endsWith('/')) mkdirSync(join(r, f), { recursive: true });
    else put(f);
  }
  return r;
}

const ARM64 = { loader: 'lib/ld-linux-aarch64.so.1', libcPath: 'lib/aarch64-linux-gnu/libc.so.6' };
const BOARDS: Record<string, Board> = {
  orin: {
    model: 'NVIDIA Jetson AGX Orin Developer Kit',
    tegra:
      '# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024\n',
    cores: 12,
    cpu: 'CPU implementer\t: 0x41\nCPU architecture: 8',
    memKb: 32_000_000,
    ...ARM64,
    glibc: '2.35',
    files: ['dev/video0', 'usr/sbin/nvargus-daemon', 'run/systemd/system/', 'usr/bin/systemctl'],
  },
  nano: {
    model: 'NVIDIA Jetson Nano Developer Kit',
    tegra:
      '# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n',
    cores: 4,
    cpu: 'CPU architecture: 8',
    memKb: 4_051_000,
    ...ARM64,
    glibc: '2.27',
    files: ['dev/video0', 'usr/sbin/nvargus-daemon', 'run/systemd/system/', 'bin/systemctl'],
  },
  pi5: {
    model: 'Raspberry Pi 5 Model B Rev 1.0',
    cores: 4,
    cpu: 'CPU architecture: 8',
    memKb: 8_245_000,
    ...ARM64,
    glibc: '2.36',
    files: ['usr/bin/rpicam-hello', 'dev/video19', 'dev/video0', 'run/systemd/system/', 'usr/bin/systemctl'],
  },
  pi4: {
    model: 'Raspberry Pi 4 Model B Rev 1.5',
    cores: 4,
    cpu: 'CPU architecture: 8',
    memKb: 3_884_000,
    ...ARM64,
    glibc: '2.36',
    files: ['usr/lib/aarch64-linux-gnu/libcamera.so.0.3', 'run/systemd/system/', 'usr/bin/systemctl'],
  },
  zero2: {
    model: 'Raspberry Pi Zero 2 W Rev 1.0',
    cores: 4,
    cpu: 'model name\t: ARMv7 Processor rev 4 (v7l)',
    memKb: 437_000,
    loader: 'lib/ld-linux-armhf.so.3',
    libcPath: 'lib/arm-linux-gnueabihf/libc.so.6',
    glibc: '2.36',
    files: ['usr/bin/libcamera-hello', 'run/systemd/system/', 'usr/bin/systemctl'],
  },
};

function info(root: string) {
  const r = cli(['device-info', '--root', root, '--json']);
  return { code: r.code, i: JSON.parse(r.out), err: r.err };
}

describe('edge-dmp device-info on faked boards', () => {
  it('Jetson AGX Orin, L4T R36.3: jetson profile, JetPack 6, CSI through nvargus, can run', () => {
    const { code, i } = info(fakeRoot('orin', BOARDS.orin));
    assert.equal(code, 0);
    assert.deepEqual(i.l4t, { release: 'R36', revision: '3.0', jetpack: '6.x', ubuntu: '22.04' });
    assert.deepEqual(
      [i.profile, i.arch, i.glibc, i.cpu.cores, i.memoryMb],
      ['jetson', 'arm64', '2.35', 12, 31250],
    );
    assert.deepEqual(i.cameras, { video: ['/dev/video0'], libcamera: false, nvargus: true });
    assert.deepEqual(i.systemd, { booted: true, installed: true });
    assert.deepEqual([i.defaults.source, i.defaults.threads, i.canRun, i.problems], ['csi://0', 4, true, []]);
  });

  it('Jetson Nano, L4T R32.7: reported unable to run Node 20, naming glibc 2.27 and Ubuntu 18.04; exit 3', () => {
    const { code, i } = info(fakeRoot('nano', BOARDS.nano));
    assert.equal(code, 3);
    assert.deepEqual(
      [i.profile, i.l4t.release, i.l4t.jetpack, i.glibc, i.canRun],
      ['jetson', 'R32', '4.x', '2.27', false],
    );
    assert.equal(i.problems.length, 1);
    assert.deepEqual(
      [i.problems[0].check, i.problems[0].need, i.problems[0].found],
      ['glibc', '>= 2.28', '2.27'],
    );
    assert.match(
      i.problems[0].reason,
      /cannot run Node 20: .*glibc 2\.28, this board has 2\.27 \(L4T R32 is Ubuntu 18\.04\)/,
    );
    const human = cli(['device-info', '--root', join(dir, 'nano')]);
    assert.match(human.out, /runtime {3}CANNOT run:\n {2}- glibc: need >= 2\.28, found 2\.27/);
  });

  it('Raspberry Pi 5: rpi5 profile, rpicam source, both video nodes, can run', () => {
    const { code, i } = info(fakeRoot('pi5', BOARDS.pi5));
    assert.equal(code, 0);
    assert.deepEqual(
      [i.profile, i.arch, i.defaults.source, i.defaults.memoryLimitMb],
      ['rpi5', 'arm64', 'rpicam:', 1024],
    );
    assert.deepEqual(i.cameras, { video: ['/dev/video0', '/dev/video19'], libcamera: true, nvargus: false });
    assert.equal(i.l4t, null);
  });

  it('Raspberry Pi 4: rpi4 profile, libcamera found by its library', () => {
    const { code, i } = info(fakeRoot('pi4', BOARDS.pi4));
    assert.equal(code, 0);
    assert.deepEqual(
      [i.profile, i.memoryMb, i.cameras.libcamera, i.defaults.outboxMax],
      ['rpi4', 3792, true, 50000],
    );
  });

  it('Raspberry Pi Zero 2 W on 32-bit Pi OS: zero2 profile, arm userland, 2 threads, small outbox', () => {
    const { code, i } = info(fakeRoot('zero2', BOARDS.zero2));
    assert.equal(code, 0);
    assert.deepEqual(
      [i.profile, i.arch, i.memoryMb, i.defaults.threads, i.defaults.outboxMax, i.canRun],
      ['zero2', 'arm', 426, 2, 10000, true],
    );
  });

  it('this machine (root /): generic profile, its own arch, glibc and Node', () => {
    const { code, i } = info('/');
    assert.equal(code, 0);
    assert.equal(i.profile, 'generic');
    assert.equal(i.arch, process.arch);
    assert.equal(i.node, process.version);
    assert.equal(
      i.glibc,
      (process.report.getReport() as { header: { glibcVersionRuntime: string } }).header.glibcVersionRuntime,
    );
    assert.equal(i.cpu.cores, readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)!.length);
  });
});

describe('edge-dmp agent --install-service', () => {
  it('under a NOTIFY_SOCKET the agent (profile auto -> zero2 on a faked root) sends READY=1, feeds the watchdog, and STOPPING=1 on SIGTERM', async () => {
    const prefix = join(dir, 'notify');
    mkdirSync(prefix, { recursive: true });
    writeFileSync(
      join(prefix, 'agent.json'),
      JSON.stringify({ deviceId: 'notify', profile: 'auto', allowUnsigned: true }),
    );
    const sock = join(dir, 'notify.sock');
    const out = join(dir, 'notify.out');
    // A stand-in for systemd's notify socket: a real unix datagram socket, read by socat.
    const socat = spawn('socat', ['-u', `UNIX-RECV:${sock}`, `OPEN:${out},creat,append`], {
      stdio: 'ignore',
    });
    try {
      await until('notify socket', () => existsSync(sock));
      // profile "auto" on a faked Zero 2 W root.
      const a = spawnAgent(prefix, {
        NOTIFY_SOCKET: sock,
        WATCHDOG_USEC: '2000000',
        EDGE_DMP_DEVICE_ROOT: fakeRoot('zero2-agent', BOARDS.zero2),
      });
      const start = await a.waitFor((e) => e.event === 'start', 'agent start');
      assert.equal(start.profile, 'zero2');
      const text = () => (existsSync(out) ? readFileSync(out, 'utf8') : '');
      await until(
        'READY=1 and two watchdog pings',
        () => /READY=1/.test(text()) && (text().match(/WATCHDOG=1/g) ?? []).length >= 2,
      );
      assert.match(text(), new RegExp(`MAINPID=${a.proc.pid}`));
      assert.deepEqual(await a.kill('SIGTERM'), { code: 0, signal: null });
      await until('STOPPING=1', () => /STOPPING=1/.test(text()));
    } finally {
      socat.kill('SIGTERM');
    }
  });

  it('writes a unit that passes systemd-analyze verify (and verify does catch a broken one)', () => {
    const prefix = join(dir, 'svc');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    writeFileSync(join(prefix, 'bin', 'edge-dmp'), '#!/bin/sh\nexec node "$@"\n');
    chmodSync(join(prefix, 'bin', 'edge-dmp'), 0o755);
    writeFileSync(
      join(prefix, 'agent.json'),
      JSON.stringify({ deviceId: 'svc', profile: 'rpi4', allowUnsigned: true }),
    );
    const units = join(dir, 'units');
    const r = cli(['agent', '--install-service', '--prefix', prefix, '--unit-dir', units]);
    assert.equal(r.code, 0, r.err);
    const path = join(units, 'edge-dmp-agent.service');
    assert.deepEqual(JSON.parse(r.out), { event: 'service-installed', path });
    const unit = readFileSync(path, 'utf8');
    for (const line of [
      'Type=notify',
      'Restart=on-failure',
      'WatchdogSec=30',
      'User=edge-dmp',
      'SupplementaryGroups=video dialout',
      'StandardOutput=journal',
      'MemoryMax=768M',
      `ExecStart=${join(prefix, 'bin', 'edge-dmp')} agent --prefix ${prefix}`,
    ])
      assert.ok(unit.split('\n').includes(line), line);
    const v = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    assert.deepEqual([v.status, v.stderr.trim()], [0, '']);
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(
      join(broken, 'edge-dmp-agent.service'),
      unit
        .replace('Restart=on-failure', 'Restart=sometimes')
        .replace(`${prefix}/bin/edge-dmp`, `${prefix}/bin/missing`),
    );
    const bad = spawnSync('systemd-analyze', ['verify', join(broken, 'edge-dmp-agent.service')], {
      encoding: 'utf8',
    });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Failed to parse service restart specifier/);
  });
});

describe('edge-dmp agent: serial and stdout reporters from agent.json', () => {
  it('results go as JSON lines to a serial port (real socat pty) and to stdout', async () => {
    const dev = join(dir, 'tty-agent');
    const mcu = join(dir, 'tty-mcu');
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,link=${mcu}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    socat.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const keys = await makeKeys(join(dir, 'serial-keys'));
    const prefix = join(dir, 'serial');
    writeConfig(prefix, {
      deviceId: 'serial1',
      profile: 'generic',
      source: 'testsrc:',
      fps: 10,
      width: 32,
      height: 32,
      publicKeys: [keys.publicKeyPath],
      serial: { path: dev, baudRate: 115200, format: 'json' },
      stdout: true,
      health: { frames: 3 },
      bundle: await makeBundle(join(dir, 'serial.edmp'), { version: '1.0.0', key: keys.privateKeyPath }),
    });
    let a: ReturnType<typeof spawnAgent> | undefined;
    try {
      await until(
        'socat ptys',
        () => existsSync(dev) && existsSync(mcu) && log.includes('starting data transfer loop'),
      );
      const port = new SerialPort({ path: mcu, baudRate: 115200 });
      const lines: Record<string, unknown>[] = [];
      port.pipe(new ReadlineParser({ delimiter: '\n' })).on('data', (l: string) => lines.push(JSON.parse(l)));
      a = spawnAgent(prefix);
      await until('3 serial lines', () => lines.length >= 3);
      assert.equal(lines[0].deviceId, 'serial1');
      assert.ok(COLOUR_LABELS.includes(String(lines[0].label)));
      const out = await a.waitFor((e) => e.ok === true && typeof e.label === 'string', 'a result on stdout');
      assert.equal((out.model as { version: string }).version, '1.0.0');
      await new Promise<void>((r) => port.close(() => r()));
    } finally {
      await a?.kill('SIGTERM');
      socat.kill('SIGTERM');
    }
  });
});
