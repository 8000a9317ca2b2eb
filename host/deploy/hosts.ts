/**
 * Fleet files. `--hosts <file>`: one board per line, `user@host[:port]` then optional `key=value`
 * fields (`prefix=`, `identity=`, `device=`, `id=` for the agent's deviceId, `root=` a faked device
 * root); `#` starts a comment. For MQTT, `--device-id` takes ids or `*` patterns and a group file
 * (`@file`) lists ids one per line.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '@edge-dmp/core';
import type { BoardTarget } from './deploy.js';
import { parseHost } from './ssh.js';

const FIELDS: Record<string, keyof BoardTarget> = {
  prefix: 'prefix',
  identity: 'identity',
  device: 'device',
  id: 'deviceId',
  root: 'deviceRoot',
  hostkey: 'hostKey',
};

/**
 * Parses a hosts file's text.
 * @example parseHosts('root@10.0.0.5 prefix=/opt/edge-dmp device=rpi5\n') // [{ host: 'root@10.0.0.5', prefix: ..., device: 'rpi5' }]
 */
export function parseHosts(text: string, file = '--hosts'): BoardTarget[] {
  const out: BoardTarget[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const [host, ...rest] = line.split(/\s+/);
    parseHost(host);
    const t: BoardTarget = { host };
    for (const kv of rest) {
      const m = /^([a-z]+)=(.+)$/.exec(kv);
      const key = m && FIELDS[m[1]];
      if (!m || !key)
        throw new ConfigError({
          field: `${file}:${i + 1}`,
          expected: `key=value with key one of ${Object.keys(FIELDS).join(', ')}`,
          received: kv,
        });
      (t as unknown as Record<string, string>)[key] = m[2];
    }
    out.push(t);
  });
  if (!out.length)
    throw new ConfigError({ field: file, expected: 'at least one board line', received: text.slice(0, 80) });
  return out;
}

/** Reads a hosts file. */
export function readHosts(path: string): BoardTarget[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError({
      field: '--hosts',
      expected: 'a readable hosts file',
      received: `${path} (${(e as Error).message})`,
    });
  }
  return parseHosts(text, path);
}

/** `cam-*` -> a RegExp over whole ids. */
export function idPattern(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
}

/**
 * Expands `--device-id` values: plain ids, `@group-file` (ids one per line), and `*` patterns matched
 * against `known` (ids seen on the broker's retained status/deploy topics).
 * @example expandDeviceIds(['cam-*'], ['cam-1', 'cam-2', 'door']) // ['cam-1', 'cam-2']
 */
export function expandDeviceIds(values: string[], known: string[] = []): string[] {
  const ids = new Set<string>();
  for (const v of values) {
    if (v.startsWith('@')) {
      let text: string;
      try {
        text = readFileSync(v.slice(1), 'utf8');
      } catch (e) {
        throw new ConfigError({
          field: '--device-id',
          expected: 'a readable group file after @',
          received: `${v} (${(e as Error).message})`,
        });
      }
      for (const l of text.split('\n')) {
        const id = l.replace(/#.*$/, '').trim();
        if (id)
          for (const x of id.includes('*') ? known.filter((k) => idPattern(id).test(k)) : [id]) ids.add(x);
      }
    } else if (v.includes('*')) {
      const re = idPattern(v);
      const hit = known.filter((k) => re.test(k));
      if (!hit.length)
        throw new ConfigError({
          field: '--device-id',
          expected: `a pattern matching a known device (${known.length} known)`,
          received: v,
        });
      hit.forEach((k) => ids.add(k));
    } else ids.add(v);
  }
  return [...ids];
}
