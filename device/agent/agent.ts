/**
 * `edge-dmp agent`: the long-running service on a board. Runs the pipeline (source -> classifier
 * -> reporters) from the model store, takes updates (control socket, MQTT OTA), gates each switch
 * on health and rolls back on failure, and reports the update state on the retained
 * `<topic prefix>/deploy` topic. Store layout, states and recovery: docs/agent.md.
 */
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPublicKey, sha256Hex, ConfigError } from '@edge-dmp/core';
import { loadSlot } from './load-slot.js';
import type { Classifier } from '../classifier.js';
import type { MqttReporter } from '../mqtt-reporter.js';
import type { Pipeline } from '../pipeline.js';
import type { Reporter } from '../types.js';
import { acceptBundle, compareVersions } from './acceptance.js';
import type { AgentConfig } from './config.js';
import { readDeviceInfo } from './device-info.js';
import { AGENT_ERROR_CODES, AgentError, reasonOf } from './errors.js';
import { writeDurable } from './fsio.js';
import { crashLoop, HealthGate } from './health.js';
import { pausePoint, pauseRequested } from './hooks.js';
import { profileByName, type Profile } from './profiles.js';
import { verifyRequest, type SignedRequest } from './requests.js';
import { startPipeline, type RunningPipeline } from './run-pipeline.js';
import { ModelStore, slotName, type Slot, type SlotInfo } from './store.js';
import {
  FINAL_STATES,
  StateFile,
  toDeploy,
  type DeployState,
  type UpdateRecord,
  type UpdateState,
} from './state.js';

export type { DeployState };
import { SwitchableClassifier } from './switchable.js';

export interface AgentOptions {
  prefix: string;
  config: AgentConfig;
  /** JSON-lines event log; default: stdout. */
  log?: (e: Record<string, unknown>) => void;
  /** Root that device-info reads (tests fake a board). Default `/`. */
  root?: string;
}

export interface InstallOptions {
  /** A signed allow-downgrade request for this bundle's version. */
  allowDowngrade?: SignedRequest;
}

export interface AgentEvents {
  state: [DeployState];
}

/**
 * The agent.
 * @example
 * const agent = new Agent({ prefix: '/opt/edge-dmp', config: await loadAgentConfig('/opt/edge-dmp/agent.json') });
 * await agent.start();
 * agent.on('state', (s) => console.log(s.state));
 * await agent.install('/opt/edge-dmp/inbox/model.edmp');
 */
export class Agent extends EventEmitter<AgentEvents> {
  readonly prefix: string;
  readonly config: AgentConfig;
  readonly store: ModelStore;
  readonly stateFile: StateFile;
  readonly profile: Profile;
  /** The JSON-lines event log. */
  readonly log: (e: Record<string, unknown>) => void;
  private keys: KeyObject[] = [];
  private seat: SwitchableClassifier | null = null;
  private running: RunningPipeline | null = null;
  private reporters: Reporter[] = [];
  private busy = false;
  private lastDeploy: DeployState | null = null;
  private ota: { stop(): void } | null = null;

  constructor(o: AgentOptions) {
    super();
    this.prefix = o.prefix;
    this.config = o.config;
    this.store = new ModelStore(join(o.prefix, 'store'));
    this.stateFile = new StateFile(this.store.root);
    this.log =
      o.log ?? ((e) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`));
    const detected = o.config.profile === 'auto' ? readDeviceInfo(o.root ?? '/').profile : o.config.profile;
    this.profile = profileByName(detected);
  }

  /** The running pipeline (null while no model runs). */
  get pipeline(): Pipeline | null {
    return this.running?.pipeline ?? null;
  }

  /** The MQTT reporter, when agent.json has `mqtt` (the OTA receiver rides on it). */
  get mqtt(): MqttReporter | null {
    return (this.reporters.find((r) => r.name === 'mqtt') as MqttReporter | undefined) ?? null;
  }

  /** Loads keys, recovers an interrupted update, starts the pipeline on the current model. */
  async start(): Promise<void> {
    this.keys = await Promise.all(this.config.publicKeys.map((k, i) => loadPublicKey(k, `publicKeys[${i}]`)));
    const cleaned = await this.store.init();
    if (cleaned.length) this.log({ event: 'cleaned', paths: cleaned });
    const { createReporters } = await import('./reporters.js');
    this.reporters = await createReporters(this);
    this.mqtt?.on('connect', () => void this.publishDeploy());
    const rec = await this.stateFile.load();
    const pendingHealth = await this.recover(rec);
    this.log({
      event: 'start',
      deviceId: this.config.deviceId,
      profile: this.profile.name,
      state: rec?.state ?? 'idle',
    });
    if (rec) this.lastDeploy = toDeploy(this.stateFile.record!);
    if (this.mqtt) {
      // After recovery: a retained offer must not race the boot.
      const { OtaReceiver } = await import('./ota.js');
      const ota = new OtaReceiver(this, this.mqtt);
      ota.start();
      this.ota = ota;
    }
    const cur = await this.store.current();
    if (cur) await this.bootSlot(cur, pendingHealth);
    else if (this.config.bundle)
      void this.install(this.config.bundle).catch((e) => this.log({ event: 'error', reason: reasonOf(e) }));
  }

  /** Boot recovery by persisted state; true when the current model still has to pass its health window. */
  private async recover(rec: UpdateRecord | null): Promise<boolean> {
    if (!rec || FINAL_STATES.includes(rec.state)) return false;
    const cur = await this.store.current();
    // The pointer switch landed but the agent died before writing `switched`.
    if (rec.state === 'staged' && cur?.name === rec.slot) rec = await this.stateFile.to('switched');
    if (rec.state !== 'switched') {
      await this.setState('refused', {
        reason: `${AGENT_ERROR_CODES.interrupted}: the agent stopped in state ${rec.state}; the board stays on ${cur?.name ?? 'no model'}`,
      });
      return false;
    }
    const now = Date.now();
    const { loop, recent } = crashLoop([...rec.boots, now], now, this.config.health.crashLoop);
    if (loop) {
      await this.rollbackStore(
        `${AGENT_ERROR_CODES.crashLoop}: ${recent.length} starts within ${this.config.health.crashLoop.windowMs} ms while ${rec.version} was unconfirmed`,
      );
      return false;
    }
    await this.stateFile.save({ ...rec, boots: recent });
    return true;
  }

  /** Starts on the current slot; a slot that fails to load or check at boot is rolled back. */
  private async bootSlot(slot: Slot, pendingHealth: boolean): Promise<void> {
    let c: Classifier;
    try {
      c = await loadSlot(this, slot);
    } catch (e) {
      this.log({ event: 'boot-check-failed', slot: slot.name, reason: reasonOf(e) });
      if (!(await this.rollbackStore(reasonOf(e)))) return;
      const prev = await this.store.current();
      if (prev) await this.bootSlot(prev, false);
      return;
    }
    this.seat = new SwitchableClassifier(c);
    this.running = startPipeline(this, this.seat, this.reporters);
    // Not awaited: start() (and READY=1 to systemd) must not wait for the health verdict.
    if (pendingHealth) void this.healthWindow(slot, c, null);
  }

  /** Rolls the store back after a failed switch; false when there was nothing to go back to. */
  private async rollbackStore(reason: string): Promise<boolean> {
    let ok = true;
    try {
      await this.store.rollback();
    } catch (e) {
      if (!(e instanceof AgentError)) throw e;
      await rm(join(this.store.root, 'current'), { force: true });
      reason += ' (no previous model: the agent runs no model until the next install)';
      ok = false;
    }
    const cur = await this.current();
    if (this.stateFile.record && !FINAL_STATES.includes(this.stateFile.record.state))
      await this.setState('rolled-back', { reason, previous: cur?.version ?? null });
    await this.store.gc();
    return ok;
  }

  /**
   * Installs a bundle file: receive, verify, stage, switch, health window; resolves with the final
   * state (`healthy`, `rolled-back` or `refused`). One update at a time (E_AGENT_BUSY).
   */
  async install(path: string, opts: InstallOptions = {}): Promise<DeployState> {
    if (this.busy || !this.stateFile.idle)
      throw new AgentError(AGENT_ERROR_CODES.busy, {
        field: 'install',
        expected: 'no update in progress',
        received: this.stateFile.record?.state,
      });
    this.busy = true;
    const incoming = join(this.store.incoming, `${process.pid}-${Date.now()}.edmp`);
    try {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(path));
      } catch (e) {
        throw new ConfigError({
          field: 'path',
          expected: 'a readable .edmp file on the board',
          received: (e as Error).message,
        });
      }
      // The agent's own copy: the inbox file may be replaced by the next upload meanwhile.
      writeDurable(incoming, bytes.subarray(0, bytes.length >> 1));
      await pausePoint('receiving', this.log);
      writeDurable(incoming, bytes);
      return await this.installBytes(bytes, opts);
    } finally {
      this.busy = false;
      await rm(incoming, { force: true });
    }
  }

  private async installBytes(bytes: Uint8Array, opts: InstallOptions): Promise<DeployState> {
    const cur = await this.current();
    await this.stateFile.begin({
      sha256: sha256Hex(bytes),
      from: cur?.slot ?? null,
      previous: cur?.version ?? null,
    });
    this.announce();
    let allowDowngrade: string | undefined;
    let acc: Awaited<ReturnType<typeof acceptBundle>>;
    try {
      if (opts.allowDowngrade) {
        const p = verifyRequest(
          opts.allowDowngrade,
          this.keys,
          this.config.deviceId,
          'allow-downgrade',
          await this.store.usedNonces(),
        );
        await this.store.useNonce(p.nonce, p.expires);
        allowDowngrade = p.version;
      }
      acc = await acceptBundle(bytes, {
        keys: this.keys,
        allowUnsigned: this.config.allowUnsigned,
        floor: await this.store.readFloor(),
        board: this.profile.capabilities,
        allowDowngrade,
      });
    } catch (e) {
      return this.setState('refused', { reason: reasonOf(e) });
    }
    await this.setState('verified', { version: acc.version, model: acc.name });
    await pausePoint('verified', this.log);
    let first = true;
    let slot: Slot;
    try {
      slot = await this.store.stage(slotName(acc.version, acc.sha256), bytes, acc.entries, async () => {
        if (first) await pausePoint('unpacking', this.log);
        first = false;
      });
      await this.setState('staged', { slot: slot.name });
      await this.store.switchTo(slot.name);
    } catch (e) {
      // Disk full, read-only store...: the pointer switch is atomic, so the old model still runs.
      await this.store.init();
      return this.setState('refused', { reason: `${AGENT_ERROR_CODES.store}: ${reasonOf(e)}` });
    }
    await this.setState('switched');
    await pausePoint('switched', this.log);
    let next: Classifier;
    try {
      next = await loadSlot(this, slot);
    } catch (e) {
      await this.rollbackStore(reasonOf(e));
      return this.lastDeploy!;
    }
    await this.healthWindow(slot, next, this.seat?.current ?? null, allowDowngrade);
    return this.lastDeploy!;
  }

  /** Puts `next` in the pipeline, judges its first N frames, keeps it or goes back to `old`. */
  private async healthWindow(
    slot: Slot,
    next: Classifier,
    old: Classifier | null,
    lowerFloor?: string,
  ): Promise<void> {
    if (!this.seat) {
      this.seat = new SwitchableClassifier(next);
      this.running = startPipeline(this, this.seat, this.reporters);
    } else if (old) this.seat.swap(next);
    const gate = new HealthGate(this.config.health);
    let seen = false;
    // The kill-9 tests hold the window open after the new model's first frame.
    const hold = pauseRequested('health');
    this.seat.observer = (o, c) => {
      if (c !== next) return;
      if (!seen) void pausePoint('health', this.log);
      seen = true;
      if (!hold) gate.observe(o);
    };
    const v = await gate.verdict;
    this.seat.observer = null;
    this.log({ event: 'health', slot: slot.name, ...v });
    if (v.ok) {
      if (old) void this.seat.retire(old);
      const rec = this.stateFile.record!;
      const floor = await this.store.readFloor();
      if (lowerFloor || !floor || compareVersions(rec.version!, floor.version) > 0)
        await this.store.writeFloor({
          version: rec.version!,
          sha256: rec.sha256!,
          ts: new Date().toISOString(),
        });
      await this.setState('healthy', { boots: [] });
      await this.store.gc();
      return;
    }
    const reason = `${AGENT_ERROR_CODES.health}: ${v.reason}`;
    if (!(await this.rollbackStore(reason))) {
      await this.running?.stop();
      this.running = null;
      this.seat = null;
      next.dispose();
      return;
    }
    let back = old;
    if (!back) back = await loadSlot(this, (await this.store.current())!);
    this.seat.swap(back);
    void this.seat.retire(next);
  }

  /**
   * An operator's signed rollback request: back to the previous model, floor lowered to it.
   * @example await agent.rollback(signRequest({ action: 'rollback', deviceId: 'cam1' }, key, keyId));
   */
  async rollback(req: SignedRequest): Promise<DeployState> {
    if (this.busy || !this.stateFile.idle)
      throw new AgentError(AGENT_ERROR_CODES.busy, {
        field: 'rollback',
        expected: 'no update in progress',
        received: this.stateFile.record?.state,
      });
    const p = verifyRequest(req, this.keys, this.config.deviceId, 'rollback', await this.store.usedNonces());
    await this.store.useNonce(p.nonce, p.expires);
    this.busy = true;
    try {
      const from = await this.current();
      const slot = await this.store.rollback();
      const c = await loadSlot(this, slot);
      const old = this.seat ? this.seat.swap(c) : null;
      if (old) void this.seat!.retire(old);
      if (!this.seat) {
        this.seat = new SwitchableClassifier(c);
        this.running = startPipeline(this, this.seat, this.reporters);
      }
      const now = (await this.current())!;
      await this.store.writeFloor({ version: now.version, sha256: now.sha256, ts: new Date().toISOString() });
      await this.stateFile.save({
        state: 'rolled-back',
        version: now.version,
        model: now.model,
        sha256: null,
        slot: now.slot,
        from: from?.slot ?? null,
        previous: from?.version ?? null,
        reason: `operator rollback request ${p.nonce} from ${from?.version ?? '?'}`,
        ts: new Date().toISOString(),
        boots: [],
      });
      this.announce();
      await this.store.gc();
      return this.lastDeploy!;
    } finally {
      this.busy = false;
    }
  }

  current(): Promise<SlotInfo | null> {
    return this.store.current().then((s) => this.store.info(s));
  }

  /** What `agent ctl status` prints. */
  async status(): Promise<Record<string, unknown>> {
    return {
      deviceId: this.config.deviceId,
      profile: this.profile.name,
      state: this.stateFile.record?.state ?? 'idle',
      update: this.stateFile.record,
      current: await this.current(),
      previous: await this.store.info(await this.store.previous()),
      floor: await this.store.readFloor(),
      running: this.seat?.current.model ?? null,
      stats: this.running?.pipeline.stats() ?? null,
    };
  }

  private async setState(state: UpdateState, fields: Partial<UpdateRecord> = {}): Promise<DeployState> {
    await this.stateFile.to(state, fields);
    return this.announce();
  }

  /** Logs, emits and publishes the state record. */
  private announce(): DeployState {
    const d = toDeploy(this.stateFile.record!);
    this.lastDeploy = d;
    this.log({ event: 'state', ...d });
    this.emit('state', d);
    void this.publishDeploy();
    return d;
  }

  private async publishDeploy(): Promise<void> {
    const m = this.mqtt;
    if (m && this.lastDeploy)
      await m.publishAux(`${m.topics.prefix}/deploy`, JSON.stringify(this.lastDeploy), { retain: true });
  }

  /** Graceful stop: pipeline stopped, outbox flushed, status `stopped` (MqttReporter.close). */
  async stop(): Promise<void> {
    this.ota?.stop();
    await this.running?.stop();
    this.running = null;
    await Promise.all(this.reporters.map((r) => r.close().catch(() => undefined)));
    this.seat?.current.dispose();
    this.log({ event: 'stopped' });
  }
}
