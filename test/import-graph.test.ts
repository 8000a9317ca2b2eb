/**
 * The layer rules of docs/layers.md, read from the sources: which package may import which,
 * no relative import leaving its package, every external import declared in that package's
 * package.json, and no assignment into another library's prototypes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { builtinModules } from 'node:module';

const ROOT = join(import.meta.dirname, '..');
/** Package folder -> the edge-dmp packages it may import (docs/layers.md). */
export const ALLOWED: Record<string, string[]> = {
  core: [],
  runtime: ['core'],
  device: ['core', 'runtime'],
  converter: ['core', 'runtime', 'sdk'],
  sdk: ['core'],
  host: ['core', 'device', 'runtime'],
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (['node_modules', 'dist', 'wasm'].includes(f)) return [];
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Edge {
  file: string;
  spec: string;
}

function importsOf(file: string): Edge[] {
  const src = readFileSync(file, 'utf8');
  const specs = [
    ...src.matchAll(/(?:^|\s)(?:import|export)[^'"`;]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/gm),
  ];
  return specs.map((m) => ({ file: relative(ROOT, file), spec: m[1] ?? m[2] }));
}

const edges = Object.keys(ALLOWED).flatMap((pkg) => walk(join(ROOT, pkg)).flatMap(importsOf));

test('reads a plausible import graph (the parser finds the imports it must)', () => {
  const n = edges.length;
  assert.ok(n > 300, `only ${n} imports found`);
  assert.ok(edges.some((e) => e.file === 'device/classifier.ts' && e.spec === '@edge-dmp/runtime'));
  assert.ok(edges.some((e) => e.file === 'device/cli/main.ts' && e.spec === './commands/run.js'));
});

test('packages import only the packages below them', () => {
  const bad: string[] = [];
  for (const { file, spec } of edges) {
    const pkg = file.split('/')[0];
    const m = /^@edge-dmp\/([a-z]+)/.exec(spec);
    if (m && m[1] !== pkg && !ALLOWED[pkg].includes(m[1])) bad.push(`${file} -> ${spec}`);
    if (m && m[1] === pkg) bad.push(`${file} -> ${spec} (imports its own package by name)`);
  }
  assert.deepEqual(bad, []);
});

test('no relative import leaves its package folder', () => {
  const bad = edges
    .filter((e) => e.spec.startsWith('.'))
    .filter((e) => {
      const target = normalize(join(dirname(e.file), e.spec));
      return target.split('/')[0] !== e.file.split('/')[0];
    })
    .map((e) => `${e.file} -> ${e.spec}`);
  assert.deepEqual(bad, []);
});

test('every external import is a dependency of its own package', () => {
  const bad: string[] = [];
  for (const pkg of Object.keys(ALLOWED)) {
    const manifest = JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    const deps = new Set(Object.keys(manifest.dependencies ?? {}));
    for (const { file, spec } of edges.filter((e) => e.file.startsWith(`${pkg}/`))) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!deps.has(name)) bad.push(`${file}: ${name} not in ${pkg}/package.json`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the device side has no tfjs dependency', () => {
  for (const pkg of ['core', 'runtime', 'device']) {
    const deps = Object.keys(
      (JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as { dependencies?: object })
        .dependencies ?? {},
    );
    assert.deepEqual(
      deps.filter((d) => d.startsWith('@tensorflow/')),
      [],
      pkg,
    );
  }
});

test('nothing takes hold of a prototype (no patching of tfjs or any other library)', () => {
  const bad: string[] = [];
  const dirs = [...Object.keys(ALLOWED), 'cli'];
  for (const file of dirs.flatMap((d) => walk(join(ROOT, d)))) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        // Any handle on a prototype is how a patch starts; our code has no other use for one.
        if (/\bprototype\b|getPrototypeOf|setPrototypeOf/.test(code)) {
          bad.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
        }
      });
  }
  assert.deepEqual(bad, []);
});
