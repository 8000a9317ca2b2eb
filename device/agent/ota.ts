/**
 * The board's half of the MQTT OTA transfer (topics: docs/deploy-contract.md). The host publishes a
 * retained offer and answers `need` messages with chunks; the agent asks for what it lacks, at
 * most 16 chunks at a time, writes each chunk whose hash matches at its offset in
 * `<prefix>/inbox/<id>.edmp.part`, and records what it holds in `<id>.have.json`, so a reconnect, a
 * broker restart or an agent restart resumes where it stopped. A complete file whose SHA-256 is the
 * offer's id is renamed to `<id>.edmp` and installed like `agent ctl install`.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttReporter } from '../mqtt-reporter.js';
import type { Agent } from './agent.js';
import { reasonOf } from './errors.js';
import { writeAtomic } from './fsio.js';

/** Chunks asked for per `need`. */
const WINDOW = 16;
/** A `need` is re-sent after this long without a chunk. */
const RETRY_MS = 10_000;
const MAX_TOTAL = 512 * 2 ** 20;

interface Offer {
  id: string;
  total: number;
  chunkSize: number;
}

interface Transfer extends Offer {
  part: string;
  haveFile: string;
  have: Set<number>;
  asked: Set<number>;
  refused: number;
  done: boolean;
}

function parseOffer(text: string): Offer | null {
  try {
    const o = JSON.parse(text) as Partial<Offer> & { sha256?: string };
    const ok =
      typeof o.id === 'string' &&
      /^[0-9a-f]{64}$/.test(o.id) &&
      Number.isInteger(o.total) &&
      o.total! > 0 &&
      o.total! <= MAX_TOTAL &&
      Number.isInteger(o.chunkSize) &&
      o.chunkSize! > 0;
    return ok ? { id: o.id!, total: o.total!, chunkSize: o.chunkSize! } : null;
  } catch {
    return null;
  }
}

/**
 * Receives bundles over MQTT for an agent.
 * @example new OtaReceiver(agent, agent.mqtt!).start();
 */
export class OtaReceiver {
  private readonly t: string;
  private readonly inbox: string;
  private cur: Transfer | null = null;
  private retry: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly agent: Agent,
    private readonly mqtt: MqttReporter,
  ) {
    this.t = `${mqtt.topics.prefix}/ota`;
    this.inbox = join(agent.prefix, 'inbox');
  }

  start(): void {
    mkdirSync(this.inbox, { recursive: true });
    for (const s of ['offer', 'chunk', 'rollback']) this.mqtt.subscribeAux(`${this.t}/${s}`);
    // One message at a time: chunk writes and the have file must not interleave.
    this.mqtt.on('aux', (topic, payload) => {
      this.chain = this.chain.then(() => this.onMessage(topic, payload));
    });
    this.mqtt.on('connect', () => this.sendNeed());
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    if (this.soon) clearTimeout(this.soon);
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      if (topic === `${this.t}/offer`) this.onOffer(payload.toString());
      else if (topic === `${this.t}/chunk`) await this.onChunk(payload.toString());
      else if (topic === `${this.t}/rollback`) await this.agent.rollback(JSON.parse(payload.toString()));
    } catch (e) {
      this.agent.log({ event: 'ota-error', topic, reason: reasonOf(e) });
    }
  }

  private onOffer(text: string): void {
    if (!text) return; // cleared by the host after its verdict
    const o = parseOffer(text);
    if (!o)
      return this.agent.log({
        event: 'ota-error',
        reason: 'offer: expected {id (sha256 hex), total, chunkSize}',
      });
    if (this.cur?.id === o.id) return this.sendNeed();
    // An offer already installed (still retained until the host clears it) is not fetched again.
    const rec = this.agent.stateFile.record;
    if (rec?.sha256 === o.id && this.agent.stateFile.idle) return;
    const part = join(this.inbox, `${o.id}.edmp.part`);
    const haveFile = join(this.inbox, `${o.id}.have.json`);
    let have = new Set<number>();
    if (existsSync(part) && existsSync(haveFile)) {
      try {
        const h = JSON.parse(readFileSync(haveFile, 'utf8')) as { chunkSize: number; offsets: number[] };
        if (h.chunkSize === o.chunkSize) have = new Set(h.offsets);
      } catch {
        // a torn have file: start over
      }
    }
    this.cur = { ...o, part, haveFile, have, asked: new Set(), refused: 0, done: false };
    this.agent.log({
      event: 'ota',
      id: o.id,
      have: this.heldBytes(),
      total: o.total,
      resumed: have.size > 0,
    });
    this.sendNeed();
  }

  private heldBytes(): number {
    const c = this.cur!;
    let n = 0;
    for (const off of c.have) n += Math.min(c.chunkSize, c.total - off);
    return n;
  }

  private missing(): number[] {
    const c = this.cur!;
    const out: number[] = [];
    for (let off = 0; off < c.total && out.length < WINDOW; off += c.chunkSize)
      if (!c.have.has(off)) out.push(off);
    return out;
  }

  /** Asks for the next window of missing chunks (again after RETRY_MS without progress). */
  private sendNeed(): void {
    const c = this.cur;
    if (!c || c.done) return;
    const offsets = this.missing();
    if (!offsets.length) return;
    c.asked = new Set(offsets);
    void this.mqtt.publishAux(
      `${this.t}/need`,
      JSON.stringify({ id: c.id, offsets, have: this.heldBytes() }),
    );
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => this.sendNeed(), RETRY_MS);
    this.retry.unref();
  }

  private refuse(why: string): void {
    const c = this.cur!;
    c.refused++;
    this.agent.log({ event: 'ota', id: c.id, refused: c.refused, reason: why });
    // Ask again for what was refused, soon, without flooding a host that keeps sending bad chunks.
    this.soon ??= setTimeout(() => {
      this.soon = null;
      this.sendNeed();
    }, 500);
  }

  private async onChunk(text: string): Promise<void> {
    const c = this.cur;
    if (!c || c.done) return;
    let m: { id?: string; offset?: number; size?: number; total?: number; hash?: string; data?: string };
    try {
      m = JSON.parse(text);
    } catch {
      return this.refuse('chunk: not JSON');
    }
    if (m.id !== c.id) return;
    const off = m.offset!;
    const size = Math.min(c.chunkSize, c.total - off);
    if (
      !Number.isInteger(off) ||
      off < 0 ||
      off >= c.total ||
      off % c.chunkSize ||
      m.size !== size ||
      m.total !== c.total
    )
      return this.refuse(`chunk at ${off}: offset/size/total do not fit the offer`);
    if (c.have.has(off)) return;
    const data = Buffer.from(typeof m.data === 'string' ? m.data : '', 'base64');
    const hash = createHash('sha256').update(data).digest('hex');
    if (data.length !== size || hash !== m.hash)
      return this.refuse(
        `chunk at ${off}: sha256 ${hash.slice(0, 12)} does not match its hash ${String(m.hash).slice(0, 12)}`,
      );
    const fd = openSync(c.part, existsSync(c.part) ? 'r+' : 'w+');
    try {
      writeSync(fd, data, 0, data.length, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    c.have.add(off);
    c.asked.delete(off);
    await writeAtomic(c.haveFile, JSON.stringify({ chunkSize: c.chunkSize, offsets: [...c.have] }));
    if (this.heldBytes() >= c.total) return this.complete(c);
    if (c.asked.size === 0) this.sendNeed();
  }

  private async complete(c: Transfer): Promise<void> {
    c.done = true;
    if (this.retry) clearTimeout(this.retry);
    const sha = createHash('sha256').update(readFileSync(c.part)).digest('hex');
    if (sha !== c.id) {
      // Every chunk matched its own hash, yet the whole is not the offered bundle: start over.
      this.agent.log({
        event: 'ota-error',
        id: c.id,
        reason: `E_AGENT_TRANSFER: assembled sha256 ${sha} is not the offer's id`,
      });
      await rm(c.part, { force: true });
      await rm(c.haveFile, { force: true });
      this.cur = null;
      return;
    }
    const path = join(this.inbox, `${c.id}.edmp`);
    await rename(c.part, path);
    await rm(c.haveFile, { force: true });
    this.agent.log({ event: 'ota', id: c.id, have: c.total, total: c.total, complete: true });
    // Not awaited: the install's health window must not hold up the message queue.
    void this.installWhenFree(path).catch((e) =>
      this.agent.log({ event: 'ota-error', id: c.id, reason: reasonOf(e) }),
    );
  }

  private async installWhenFree(path: string): Promise<void> {
    for (;;) {
      try {
        await this.agent.install(path);
        break;
      } catch (e) {
        if (!/E_AGENT_BUSY/.test(reasonOf(e))) throw e;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    await rm(path, { force: true });
    this.cur = null;
  }
}
