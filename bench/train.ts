/**
 * Training-speed benchmark (not a test): ms per Adam step and images/s for EfficientNet-B0 and
 * its DMP variant at batch 32, 32x32, 10 classes, on
 *   - stock tfjs `cpu` (B0 only, a couple of steps: each takes well over a minute),
 *   - the project's default CPU path (`wasm` + registerFastKernels, what `edge-dmp train` uses),
 *   - PyTorch (bench/train_torch.py through /usr/bin/python3, same architecture and threads),
 * with the project/PyTorch ratio and each run's peak RSS. Each configuration runs in its own
 * process so RSS and backend state do not mix. Steps are timed in process CPU time (all paths
 * run on one thread), which stays meaningful on a machine shared with other work; wall time is
 * printed next to it. The stock figure is the last of its steps (no warm-up).
 *
 *   npm run bench:train                      # table
 *   npm run bench:train -- --json out.json   # also write {pytorch: {b0, dmp}, stock: {b0}, project: {b0, dmp}}
 *   options: --batch 32 --size 32 --steps 5 --warmup 2 --stock-steps 2 --threads 1 --no-stock --no-torch
 *            --profile (per-kernel times of one project step)
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createModel, registerFastKernels, selectBackend } from '../sdk/index.js';
import { EdgeDmpAdam } from '../sdk/train/adam.js';

interface Opts {
  batch: number;
  size: number;
  steps: number;
  warmup: number;
  stockSteps: number;
  threads: number;
  stock: boolean;
  torch: boolean;
  profile: boolean;
  json?: string;
}

/** ms: median per-step CPU time of the process (robust to other load on a shared machine); wall: median wall time. */
interface Result {
  ms: number;
  wall: number;
  rssMB: number;
  steps: number[];
}

function parse(argv: string[]): Opts {
  const o: Opts = {
    batch: 32,
    size: 32,
    steps: 5,
    warmup: 2,
    stockSteps: 2,
    threads: 1,
    stock: true,
    torch: true,
    profile: false,
  };
  const num = (i: number) => {
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${argv[i]}: expected a number, got ${argv[i + 1]}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch') o.batch = num(i++);
    else if (a === '--size') o.size = num(i++);
    else if (a === '--steps') o.steps = num(i++);
    else if (a === '--warmup') o.warmup = num(i++);
    else if (a === '--stock-steps') o.stockSteps = num(i++);
    else if (a === '--threads') o.threads = num(i++);
    else if (a === '--no-stock') o.stock = false;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--json') o.json = argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : '-';
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One configuration, in this process: `--worker <backend> <variant> <steps> <warmup> <batch> <size> [profile]`. */
async function worker(args: string[]): Promise<void> {
  const [backend, variant, stepsS, warmupS, batchS, sizeS, profile] = args;
  const [steps, warmup, batch, size] = [stepsS, warmupS, batchS, sizeS].map(Number);
  await selectBackend(backend);
  if (backend !== 'cpu') registerFastKernels();
  const model = createModel({
    model: 'efficientnet-b0',
    variant: variant as 'baseline' | 'dmp',
    classes: 10,
    inputSize: size,
  });
  const opt = new EdgeDmpAdam(0.01);
  const x = tf.randomNormal([batch, size, size, 3]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const step = () => {
    const l = opt.minimize(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      true,
    );
    l?.dataSync();
    l?.dispose();
  };
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    times.push(performance.now() - t0);
  }
  if (profile) profileStep(backend, `${backend} ${variant}`, step, steps);
  const rssMB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms: median(cpu), wall: median(times), rssMB, steps: cpu }));
}

/**
 * Per-kernel process CPU time over `steps` steps, exclusive of the kernels each one calls (our
 * kernels compose the backend's): every kernel of the backend is wrapped with a timer. tf.profile
 * reports wall time, which other load on a shared machine swamps.
 */
function profileStep(backend: string, label: string, step: () => void, steps: number): void {
  const agg = new Map<string, { ms: number; n: number }>();
  const stack: number[] = [];
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (const k of tf.getKernelsForBackend(backend)) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const t0 = cpuMs();
        stack.push(0);
        const out = inner(args);
        const child = stack.pop() ?? 0;
        const total = cpuMs() - t0;
        if (stack.length) stack[stack.length - 1] += total;
        const a = agg.get(k.kernelName) ?? { ms: 0, n: 0 };
        a.ms += total - child;
        a.n += 1;
        agg.set(k.kernelName, a);
        return out;
      },
    });
  }
  const c0 = cpuMs();
  for (let i = 0; i < steps; i++) step();
  const all = (cpuMs() - c0) / steps;
  let kernels = 0;
  for (const a of agg.values()) kernels += a.ms / steps;
  console.error(
    `profile ${label}: CPU ms per step ${all.toFixed(0)} (kernels ${kernels.toFixed(0)}, outside kernels ${(all - kernels).toFixed(0)})`,
  );
  const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20);
  for (const [name, a] of rows) {
    console.error(
      `  ${name.padEnd(38)} ${(a.ms / steps).toFixed(1).padStart(7)} ms  ${String(a.n / steps).padStart(5)} calls`,
    );
  }
}

function runWorker(
  backend: string,
  variant: string,
  steps: number,
  warmup: number,
  o: Opts,
  profile = false,
): Result {
  const self = fileURLToPath(import.meta.url);
  const args = [
    '--conditions=edge-dmp-source',
    '--import',
    'tsx',
    self,
    '--worker',
    backend,
    variant,
    String(steps),
    String(warmup),
    String(o.batch),
    String(o.size),
  ];
  if (profile) args.push('profile');
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{'))
    throw new Error(`${backend}/${variant} failed (exit ${r.status}): ${line}`);
  return JSON.parse(line) as Result;
}

function runTorch(o: Opts): { b0: Result; dmp: Result; version: string } | string {
  const script = fileURLToPath(new URL('./train_torch.py', import.meta.url));
  const args = [
    script,
    '--batch',
    String(o.batch),
    '--size',
    String(o.size),
    '--threads',
    String(o.threads),
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
  ];
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.error) return `/usr/bin/python3 not runnable: ${r.error.message}`;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    type Fig = { cpu: number; wall: number };
    const j = JSON.parse(line) as {
      error?: string;
      torch: string;
      b0: Fig;
      dmp: Fig;
      rssMB: { b0: number; dmp: number };
    };
    if (j.error) return j.error;
    return {
      version: j.torch,
      b0: { ms: j.b0.cpu, wall: j.b0.wall, rssMB: j.rssMB.b0, steps: [] },
      dmp: { ms: j.dmp.cpu, wall: j.dmp.wall, rssMB: j.rssMB.dmp, steps: [] },
    };
  } catch {
    return `train_torch.py failed (exit ${r.status}): ${line}`;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') return worker(argv.slice(1));
  const o = parse(argv);
  const log = (s: string) => console.error(s);
  log(
    `machine: ${cpus()[0]?.model ?? 'unknown cpu'}, ${cpus().length} cores, node ${process.version}, tfjs ${tf.version.tfjs}`,
  );
  log(
    `batch ${o.batch}, ${o.size}x${o.size}, 10 classes, Adam; median of ${o.steps} steps after ${o.warmup} warm-up`,
  );
  const loadStart = loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
  const project = {
    b0: runWorker('wasm', 'baseline', o.steps, o.warmup, o, o.profile),
    dmp: runWorker('wasm', 'dmp', o.steps, o.warmup, o, o.profile),
  };
  const torch = o.torch ? runTorch(o) : 'skipped (--no-torch)';
  // Stock cpu: no warm-up (a step takes well over a minute); the last of the timed steps counts.
  const stock = o.stock ? runWorker('cpu', 'baseline', o.stockSteps, 0, o) : undefined;
  if (stock) stock.ms = stock.steps[stock.steps.length - 1];
  const load = loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');

  const rows: [string, string, Result | undefined][] = [
    ['stock tfjs cpu', 'B0', stock],
    ['project (wasm + fast kernels)', 'B0', project.b0],
    ['project (wasm + fast kernels)', 'DMP', project.dmp],
  ];
  if (typeof torch !== 'string') {
    rows.push(
      [`PyTorch ${torch.version} (${o.threads} thread)`, 'B0', torch.b0],
      [`PyTorch ${torch.version} (${o.threads} thread)`, 'DMP', torch.dmp],
    );
  }
  const table = [
    '| path | model | CPU ms/step | wall ms/step | img/s (CPU) | vs PyTorch (CPU) | peak RSS MB |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [path, model, r] of rows) {
    if (!r) continue;
    const ref = typeof torch === 'string' ? undefined : model === 'B0' ? torch.b0.ms : torch.dmp.ms;
    const ratio = ref ? `${(r.ms / ref).toFixed(2)}x` : 'n/a';
    table.push(
      `| ${path} | ${model} | ${r.ms.toFixed(0)} | ${r.wall.toFixed(0)} | ${((o.batch * 1000) / r.ms).toFixed(1)} | ${ratio} | ${r.rssMB.toFixed(0)} |`,
    );
  }
  console.log(table.join('\n'));
  if (typeof torch === 'string') console.log(`PyTorch: ${torch}`);
  console.log(`DMP/B0 (project): ${(project.dmp.ms / project.b0.ms).toFixed(2)}`);
  console.log(`load average at start ${loadStart}, at end ${load} (${cpus().length} cores)`);
  if (o.json) {
    const json = {
      pytorch: typeof torch === 'string' ? null : { b0: torch.b0.ms, dmp: torch.dmp.ms },
      stock: stock ? { b0: stock.ms } : null,
      project: { b0: project.b0.ms, dmp: project.dmp.ms },
    };
    const text = `${JSON.stringify(json, null, 2)}\n`;
    if (o.json === '-') process.stdout.write(text);
    else writeFileSync(o.json, text);
  }
}

await main();
