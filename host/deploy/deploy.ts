/**
 * `edge-dmp deploy` over SSH for one board: preflight, runtime, agent config and service, bundle,
 * verdict. Every step reports a typed event; `dryRun` reads the board and reports the plan only.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { readBundle } from '@edge-dmp/core';
import { ensureAgent, agentRunning, ctl } from './agent-service.js';
import { DeployError } from './errors.js';
import type { EventSink, Verdict } from './events.js';
import { blockers, matchProfile, PROFILES, readFacts, type BoardFacts, type Profile } from './preflight.js';
import type { RuntimeProvider } from './runtime-cache.js';
import { installRuntime, planRuntime } from './runtime-install.js';
import { SshTransport } from './ssh.js';
import { sh, type Transport } from './transport.js';
import { uploadResumable } from './upload.js';

export const DEFAULT_PREFIX = '/opt/edge-dmp';

export interface BoardTarget {
  /** `user@host[:port]`. */
  host: string;
  prefix?: string;
  identity?: string;
  /** `--device` for this board (a hosts-file line may override the command's). */
  device?: string;
  /** The faked `/` that device facts are read under (tests). */
  deviceRoot?: string;
  /** agent.json deviceId; default: the board's host name part. */
  deviceId?: string;
  /** Pinned host key fingerprint `SHA256:...` (`ssh-keygen -lf`); a different key is refused. */
  hostKey?: string;
  /**
   * known_hosts file for SSH host keys (trust on first use; a changed key is E_HOST_KEY). The CLI
   * passes `$EDGE_DMP_HOME/known_hosts`; without it and without `hostKey`, any key is accepted.
   */
  knownHosts?: string;
}

export interface DeployOptions {
  bundle: string;
  device: string;
  runtime: RuntimeProvider;
  dryRun?: boolean;
  /** Fields merged into the agent.json deploy writes (source, mqtt, health...). */
  agentConfig?: Record<string, unknown>;
  /** Public key (PEM file on the host) copied to `<prefix>/keys/edmp.pub` and trusted by the agent. */
  publicKey?: string;
  /** How long to wait for the agent's verdict (default 5 min). */
  timeoutMs?: number;
  onEvent?: EventSink;
  /** An open transport (tests, fleets); otherwise one SSH connection is opened and closed here. */
  transport?: Transport;
}

export interface DeployResult {
  host: string;
  ok: boolean;
  state: Verdict | 'planned';
  reason?: string;
  version?: string | null;
  model?: string | null;
  profile?: Profile;
  runtime?: string;
  bytesSent: number;
}

interface CtlLine {
  state?: string;
  version?: string | null;
  model?: string | null;
  reason?: string;
}

/**
 * One line of `agent ctl` output -> the state it reports: `{"event":"state",...}`, the final
 * `{"ok":..,"final":{...}}`, a refusal `{"ok":false,"error":{message}}`, or a flat `{state}`.
 */
export function parseCtlLine(line: string): CtlLine | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (j.final && typeof j.final === 'object') return j.final as CtlLine;
  if (j.ok === false && j.error && typeof j.error === 'object')
    return {
      state: 'refused',
      reason: String((j.error as { message?: unknown }).message ?? JSON.stringify(j.error)),
    };
  return typeof j.state === 'string' ? (j as CtlLine) : undefined;
}

const FINAL: Record<string, Verdict> = {
  healthy: 'healthy',
  'rolled-back': 'rolled-back',
  refused: 'refused',
};

/** agent.json as deploy writes it: the operator's fields over the board's facts. */
export function agentConfigFor(
  target: BoardTarget,
  profile: Profile,
  o: DeployOptions,
  old?: string,
): string {
  let kept: string | undefined;
  try {
    kept = old ? (JSON.parse(old) as { deviceId?: string }).deviceId : undefined;
  } catch {
    // An unreadable agent.json is replaced.
  }
  const cfg: Record<string, unknown> = {
    // The board keeps the id it reports under unless one is given: results stay on their topics.
    deviceId: target.deviceId ?? kept ?? target.host.replace(/^.*@/, '').replace(/:\d+$/, ''),
    profile,
    publicKeys: o.publicKey ? ['keys/edmp.pub'] : [],
    ...o.agentConfig,
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

async function preflight(
  t: Transport,
  target: BoardTarget,
  prefix: string,
  device: string,
): Promise<{ facts: BoardFacts; profile: Profile }> {
  const facts = await readFacts(t, prefix, target.deviceRoot);
  const why = blockers(facts);
  // Once a runtime is on the board, its own `device-info` has the last word on profile and problems
  // (it knows L4T/JetPack and camera stacks); before that, the shell facts above stand alone.
  const info = await t.exec(
    `b=${sh(`${prefix}/bin/edge-dmp`)}; [ -x "$b" ] || exit 99; "$b" device-info --json${target.deviceRoot ? ` --root ${sh(target.deviceRoot)}` : ''}`,
  );
  if (info.code !== 99) {
    try {
      const d = JSON.parse(info.stdout) as {
        profile?: string;
        problems?: { check?: string; reason?: string }[];
      };
      if (typeof d.profile === 'string' && (PROFILES as readonly string[]).includes(d.profile))
        facts.profile = d.profile as Profile;
      // A faked root (tests) holds only the board's identity files, not its CPU, memory or libc:
      // there the shell facts, read from the real system, judge; on a real root device-info does too.
      if (!target.deviceRoot)
        for (const p of d.problems ?? []) if (p.reason && !why.includes(p.reason)) why.push(p.reason);
    } catch {
      // An old runtime without device-info: the shell facts stand.
    }
  }
  if (why.length)
    throw new DeployError(
      'E_PREFLIGHT',
      {
        field: '--host',
        expected: 'a board that can run the edge-dmp runtime',
        received: `${t.name}: ${why.join('; ')}`,
      },
      `${t.name} cannot run the edge-dmp runtime: ${why.join('; ')}`,
    );
  return { facts, profile: matchProfile(target.device ?? device, facts, t.name) };
}

/**
 * Deploys a bundle (and, when needed, the runtime and agent) to one board over SSH.
 * @example
 * const r = await deployBoard({ host: 'root@jetson.local' }, { bundle: 'model.edmp', device: 'jetson', runtime: runtimeCache() });
 * process.exitCode = r.ok ? 0 : 1;
 */
export async function deployBoard(target: BoardTarget, o: DeployOptions): Promise<DeployResult> {
  const prefix = target.prefix ?? DEFAULT_PREFIX;
  let hostKey: { fingerprint: string; recorded: boolean } | undefined;
  const t =
    o.transport ??
    (await SshTransport.connect(target.host, {
      identity: target.identity,
      hostKeySha256: target.hostKey,
      knownHosts: target.knownHosts,
      onHostKey: (fingerprint, recorded) => (hostKey = { fingerprint, recorded }),
    }));
  const host = t.name;
  const emit = o.onEvent ?? (() => undefined);
  let bytesSent = 0;
  try {
    const bundle = await readBundle(o.bundle);
    const { facts, profile } = await preflight(t, target, prefix, o.device);
    emit({
      event: 'preflight',
      host,
      facts,
      profile,
      hostKey: hostKey?.fingerprint,
      hostKeyRecorded: hostKey?.recorded,
    });
    const tarball = await o.runtime(facts);
    const runtimePlan = await planRuntime(t, prefix, tarball.version);
    const oldConfig = (await t.readFile(`${prefix}/agent.json`))?.toString();
    const config = agentConfigFor(target, profile, o, oldConfig);
    const pub = o.publicKey ? await readFile(o.publicKey, 'utf8') : undefined;
    const oldPub = pub ? (await t.readFile(`${prefix}/keys/edmp.pub`))?.toString() : undefined;
    const configChanged = oldConfig !== config || oldPub !== pub;
    const running = runtimePlan === 'installed' ? false : await agentRunning(t, prefix, facts.systemd);
    const current = await t
      .readFile(`${prefix}/store/state.json`)
      .then((b) => (b ? (JSON.parse(b.toString()) as CtlLine) : undefined))
      .catch(() => undefined);
    emit({
      event: 'plan',
      host,
      dryRun: !!o.dryRun,
      runtime: { action: runtimePlan, version: tarball.version, bytes: tarball.bytes },
      config: configChanged ? 'write' : 'unchanged',
      agent: !running ? 'start' : configChanged || runtimePlan !== 'skipped' ? 'restart' : 'running',
      bundle: {
        name: basename(o.bundle),
        sha256: bundle.sha256,
        version: bundle.manifest.model.version,
        model: bundle.manifest.model.name,
      },
      current: current && { state: current.state, version: current.version },
    });
    if (o.dryRun) return { host, ok: true, state: 'planned', profile, runtime: tarball.version, bytesSent };

    const onProgress = (p: {
      file: string;
      done: number;
      total: number;
      sent: number;
      bytesPerSec: number;
      etaS: number;
    }) => emit({ event: 'upload', host, ...p });
    const rt = await installRuntime(t, prefix, tarball, facts.nodePath!, { onProgress });
    bytesSent += rt.upload?.sent ?? 0;
    emit({
      event: 'runtime',
      host,
      action: rt.action,
      version: rt.version,
      previous: rt.previous,
      sent: rt.upload?.sent ?? 0,
    });

    if (pub && oldPub !== pub) await t.writeFile(`${prefix}/keys/edmp.pub`, pub);
    if (oldConfig !== config) await t.writeFile(`${prefix}/agent.json`, config, 0o600);
    const action = await ensureAgent(t, prefix, {
      systemd: facts.systemd,
      restart: configChanged || rt.action !== 'skipped',
      deviceRoot: target.deviceRoot,
    });
    emit({
      event: 'agent',
      host,
      action: action === 'start' ? 'started' : action === 'restart' ? 'restarted' : 'running',
    });

    const stem = basename(o.bundle).replace(/\.edmp$/, '');
    const remote = `${prefix}/inbox/${stem}-${bundle.sha256.slice(0, 8)}.edmp`;
    const up = await uploadResumable(t, o.bundle, remote, { onProgress });
    bytesSent += up.sent;

    let last: CtlLine = {};
    const r = await ctl(t, prefix, `install ${sh(remote)} --wait`, (line) => {
      const l = parseCtlLine(line);
      if (!l) return;
      last = l;
      if (l.state) emit({ event: 'state', host, state: l.state, version: l.version, reason: l.reason });
    });
    const state: Verdict = (last.state && FINAL[last.state]) || 'failed';
    const ok = state === 'healthy' && r.code === 0;
    const reason = ok ? undefined : (last.reason ?? (r.stderr.trim() || `agent ctl exited ${r.code}`));
    emit({
      event: 'verdict',
      host,
      ok,
      state,
      reason,
      version: last.version,
      model: last.model ?? bundle.manifest.model.name,
      bytesSent,
    });
    return {
      host,
      ok,
      state,
      reason,
      version: last.version ?? bundle.manifest.model.version,
      model: last.model ?? bundle.manifest.model.name,
      profile,
      runtime: rt.version,
      bytesSent,
    };
  } finally {
    if (!o.transport) await t.close();
  }
}
