/**
 * `visage bench engine`: how fast the engine trains, in one run. (a) conv gradient kernels (conv.ts),
 * (b) ResNet-18 embedding forward throughput on 1 worker vs every core, (c) one training step of the
 * ResNet-18 embedding net (112 px, 8 identities × 4, batch-hard triplet loss, Adam), in-process and
 * data-parallel, with a breakdown of where the time goes, and (d) the same step in PyTorch when python3
 * has torch (bench/peers/torch_train_step.py), single-threaded and on every core.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { envThreads, type BackendName } from '../config.js';
import { VisageError } from '../errors.js';
import { engineInfo, initEngine } from '../engine/backend.js';
import { initWeights } from '../engine/graph/index.js';
import { mulberry32 } from '../util/random.js';
import { median } from '../util/stats.js';
import { benchConvGradients, type ConvBenchOptions, type ConvBenchResult } from './conv.js';
import { findTorchPython, peerScript } from './torch-peer.js';
import { resnetEmbedding } from '../training/nets/resnet.js';
import { TrainingStep, type StepTimings } from '../training/step.js';

export interface EngineBenchOptions {
  /** Workers for the parallel measurements; default VISAGE_THREADS or every core. */
  threads?: number;
  backend?: BackendName;
  depth?: 18 | 34;
  inputSize?: number;
  /** Images per forward-throughput batch. */
  forwardBatch?: number;
  /** Training batch = identities × perIdentity. */
  identities?: number;
  perIdentity?: number;
  /** Timed repetitions (after one warm-up) of each measurement; the median is reported. */
  repeats?: number;
  /** Run the conv-kernel benchmark (a), with these options (default: its own defaults). */
  conv?: boolean | ConvBenchOptions;
  /** Run the PyTorch peer (d): 'auto' runs it when python3 can import torch. */
  torch?: boolean | 'auto';
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface ForwardThroughput {
  threads: number;
  ms: number;
  /** CPU time of every thread of the process (load-independent work). */
  cpuMs: number;
  imagesPerSec: number;
}

export interface StepMeasurement {
  mode: TrainingStep['mode'];
  threads: number;
  medianMs: number;
  /** Median CPU time of the process per step (all threads). */
  medianCpuMs: number;
  allMs: number[];
  /** Breakdown of the median step. */
  timings: StepTimings;
}

export interface TorchMeasurement {
  threads: number;
  medianMs: number;
  medianCpuMs: number;
  version: string;
}

export interface EngineBenchResult {
  backend: string;
  tfjs: string;
  simd: boolean;
  cores: number;
  threads: number;
  /** 1-minute load averages at the start and the end (which counts the benchmark's own threads). */
  load: [number, number];
  conv: ConvBenchResult | { skipped: string };
  forward: {
    batch: number;
    inputSize: number;
    one: ForwardThroughput;
    all: ForwardThroughput;
    speedup: number;
  };
  step: {
    batch: number;
    inputSize: number;
    depth: number;
    inProcess: StepMeasurement;
    parallel: StepMeasurement;
  };
  torch: { oneThread: TorchMeasurement; allThreads: TorchMeasurement } | { skipped: string };
}

function noise(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

interface Sample {
  ms: number;
  cpuMs: number;
  timings?: StepTimings;
}

/** Wall and process CPU time of one call. */
async function sample(f: () => Promise<StepTimings | unknown>): Promise<Sample> {
  const c = process.cpuUsage();
  const t = performance.now();
  const r = await f();
  const ms = performance.now() - t;
  const u = process.cpuUsage(c);
  const timings = r && typeof r === 'object' && 'totalMs' in r ? (r as StepTimings) : undefined;
  return { ms, cpuMs: (u.user + u.system) / 1000, timings };
}

/**
 * Each measurement once to warm up (XNNPACK operator set-up, heap growth), then `repeats` rounds that
 * interleave them, so that load from other processes hits them alike.
 */
async function interleaved(fns: Array<() => Promise<unknown>>, repeats: number): Promise<Sample[][]> {
  for (const f of fns) await f();
  const out: Sample[][] = fns.map(() => []);
  for (let r = 0; r < repeats; r++) for (let i = 0; i < fns.length; i++) out[i].push(await sample(fns[i]));
  return out;
}

function throughput(threads: number, n: number, samples: Sample[]): ForwardThroughput {
  const ms = median(samples.map((x) => x.ms));
  return { threads, ms, cpuMs: median(samples.map((x) => x.cpuMs)), imagesPerSec: (n * 1000) / ms };
}

function stepMeasurement(step: TrainingStep, samples: Sample[]): StepMeasurement {
  const sorted = [...samples].sort((a, b) => a.ms - b.ms);
  return {
    mode: step.mode,
    threads: step.threads,
    medianMs: median(samples.map((x) => x.ms)),
    medianCpuMs: median(samples.map((x) => x.cpuMs)),
    allMs: samples.map((x) => x.ms),
    timings: sorted[(sorted.length - 1) >> 1].timings!,
  };
}

function runTorch(
  py: string,
  script: string,
  threads: number,
  a: Required<EngineBenchOptions>,
): TorchMeasurement {
  const out = execFileSync(
    py,
    [
      script,
      `--threads=${threads}`,
      `--depth=${a.depth}`,
      `--size=${a.inputSize}`,
      `--identities=${a.identities}`,
      `--per-identity=${a.perIdentity}`,
      `--steps=${Math.max(3, a.repeats)}`,
    ],
    { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const last = out.trim().split('\n').pop() ?? '';
  const j = JSON.parse(last) as { medianMs: number; medianCpuMs: number; threads: number; torch: string };
  return { threads: j.threads, medianMs: j.medianMs, medianCpuMs: j.medianCpuMs, version: j.torch };
}

export async function benchEngine(opts: EngineBenchOptions = {}): Promise<EngineBenchResult> {
  const a: Required<EngineBenchOptions> = {
    threads: opts.threads ?? envThreads(),
    backend: opts.backend ?? (undefined as unknown as BackendName),
    depth: opts.depth ?? 18,
    inputSize: opts.inputSize ?? 112,
    forwardBatch: opts.forwardBatch ?? 64,
    identities: opts.identities ?? 8,
    perIdentity: opts.perIdentity ?? 4,
    repeats: opts.repeats ?? 3,
    conv: opts.conv ?? true,
    torch: opts.torch ?? 'auto',
    log: opts.log ?? (() => {}),
  };
  if (a.threads < 2)
    throw new VisageError('E_BAD_OPTION', 'the engine benchmark compares 1 with ≥ 2 threads');
  const loadBefore = os.loadavg()[0];
  await initEngine(opts.backend);
  const info = await engineInfo();
  const size = a.inputSize;
  const def = resnetEmbedding({ depth: a.depth, inputSize: size, channels: 3 });
  const weights = initWeights(def, [size, size, 3], 1);
  const per = size * size * 3;

  a.log('(a) conv gradient kernels');
  const conv = a.conv
    ? await benchConvGradients({ ...(typeof a.conv === 'object' ? a.conv : {}), log: a.log })
    : { skipped: 'disabled' };

  // One in-process and one data-parallel trainer serve (b) and (c), measured in alternation.
  const local = await TrainingStep.create({ def, weights, threads: 1, backend: opts.backend });
  const par = await TrainingStep.create({ def, weights, threads: a.threads, backend: opts.backend });
  let one: ForwardThroughput, all: ForwardThroughput;
  let inProcess: StepMeasurement, parallel: StepMeasurement;
  const n = a.identities * a.perIdentity;
  try {
    a.log(`(b) ResNet-${a.depth} forward, ${a.forwardBatch} images, 1 vs ${a.threads} workers`);
    const fwdImages = noise(a.forwardBatch * per, 2);
    const fwd = await interleaved(
      [() => local.embed(fwdImages, a.forwardBatch), () => par.embed(fwdImages, a.forwardBatch)],
      a.repeats,
    );
    one = throughput(1, a.forwardBatch, fwd[0]);
    all = throughput(a.threads, a.forwardBatch, fwd[1]);

    a.log(
      `(c) training step, batch ${n} = ${a.identities} × ${a.perIdentity}, in-process and on ${a.threads} workers`,
    );
    const images = noise(n * per, 3);
    const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / a.perIdentity));
    const steps = await interleaved(
      [
        async () => (await local.step(images, labels)).timings,
        async () => (await par.step(images, labels)).timings,
      ],
      a.repeats,
    );
    inProcess = stepMeasurement(local, steps[0]);
    parallel = stepMeasurement(par, steps[1]);
  } finally {
    await local.close();
    await par.close();
  }

  let torch: EngineBenchResult['torch'];
  const script = peerScript('torch_train_step.py');
  const py = a.torch === false ? undefined : findTorchPython();
  if (a.torch === false) torch = { skipped: 'disabled' };
  else if (!py) torch = { skipped: 'no python3 with torch (set VISAGE_PYTHON)' };
  else if (!fs.existsSync(script)) torch = { skipped: `${script} not found` };
  else {
    a.log(`(d) PyTorch peer (${py}), 1 and ${a.threads} threads`);
    torch = { oneThread: runTorch(py, script, 1, a), allThreads: runTorch(py, script, a.threads, a) };
  }

  return {
    backend: info.backend,
    tfjs: info.tfjsVersion,
    simd: info.simd,
    cores: os.availableParallelism(),
    threads: a.threads,
    load: [loadBefore, os.loadavg()[0]],
    conv,
    forward: {
      batch: a.forwardBatch,
      inputSize: size,
      one,
      all,
      speedup: all.imagesPerSec / one.imagesPerSec,
    },
    step: { batch: n, inputSize: size, depth: a.depth, inProcess, parallel },
    torch,
  };
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function breakdown(t: StepTimings): string {
  const shard = t.shards[0];
  const parts = [
    `forward ${sec(t.forwardMs)}`,
    `loss ${t.lossMs.toFixed(0)} ms`,
    `backward ${sec(t.backwardMs)}`,
    `optimizer ${t.optimizerMs.toFixed(0)} ms`,
  ];
  const s = shard
    ? `; shard 0: upload ${shard.loadMs.toFixed(0)} ms, forward ${sec(shard.forwardMs)}, wait ${shard.exchangeMs.toFixed(0)} ms, backward ${sec(shard.backwardMs)}, read-out ${shard.readMs.toFixed(0)} ms`
    : '';
  return `[${parts.join(', ')}${s}]`;
}

function formatConv(conv: EngineBenchResult['conv']): string[] {
  if ('skipped' in conv) return [`  skipped: ${conv.skipped}`];
  return conv.table.split('\n').map((l) => `  ${l}`);
}

const cpu = (ms: number) => `cpu ${(ms / 1000).toFixed(2)} s`;

export function formatEngineBench(r: EngineBenchResult): string {
  const f = r.forward;
  const s = r.step;
  const row = (label: string, wall: number, cpuMs: number, rest = '') =>
    `  ${label.padEnd(26)}${sec(wall).padStart(8)}  (${cpu(cpuMs)})${rest ? `  ${rest}` : ''}`;
  const lines = [
    `Visage engine benchmark: backend ${r.backend}${r.simd ? ' (SIMD)' : ''}, tfjs ${r.tfjs}, ${r.cores} cores, ${r.threads} workers`,
    `load average ${r.load[0].toFixed(1)} at start, ${r.load[1].toFixed(1)} at end` +
      (r.load[0] > 0.5
        ? ' (the machine was busy before the run: wall times are inflated, cpu times less so)'
        : ''),
    '',
    '(a) conv gradient kernels',
    ...formatConv(r.conv),
    '',
    `(b) ResNet-${s.depth} embedding forward, ${f.batch} images of ${f.inputSize}×${f.inputSize}×3 (wall, process cpu)`,
    row('1 worker', f.one.ms, f.one.cpuMs, `${f.one.imagesPerSec.toFixed(1)} images/s`),
    row(
      `${f.all.threads} workers`,
      f.all.ms,
      f.all.cpuMs,
      `${f.all.imagesPerSec.toFixed(1)} images/s, speed-up ×${f.speedup.toFixed(2)}`,
    ),
    '',
    `(c) training step: ResNet-${s.depth} ${s.inputSize} px, batch ${s.batch}, batch-hard triplet loss, Adam`,
    row('in-process (1 thread)', s.inProcess.medianMs, s.inProcess.medianCpuMs),
    `    ${breakdown(s.inProcess.timings)}`,
    row(`data-parallel (${s.parallel.threads} workers)`, s.parallel.medianMs, s.parallel.medianCpuMs),
    `    ${breakdown(s.parallel.timings)}`,
    '',
  ];
  if ('skipped' in r.torch) lines.push(`(d) PyTorch: skipped (${r.torch.skipped})`);
  else {
    const t = r.torch;
    const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
    lines.push(
      `(d) PyTorch ${t.oneThread.version}, the same step (bench/peers/torch_train_step.py)`,
      row('1 thread', t.oneThread.medianMs, t.oneThread.medianCpuMs),
      row(`${t.allThreads.threads} threads`, t.allThreads.medianMs, t.allThreads.medianCpuMs),
      '',
      'Visage ÷ PyTorch, step time (lower is better; cpu = work, independent of other load)',
      `  in-process    vs torch 1 thread:   wall ${ratio(s.inProcess.medianMs, t.oneThread.medianMs)}, cpu ${ratio(s.inProcess.medianCpuMs, t.oneThread.medianCpuMs)}`,
      `  data-parallel vs torch 1 thread:   wall ${ratio(s.parallel.medianMs, t.oneThread.medianMs)}`,
      `  data-parallel vs torch ${t.allThreads.threads} threads:  wall ${ratio(s.parallel.medianMs, t.allThreads.medianMs)}, cpu ${ratio(s.parallel.medianCpuMs, t.allThreads.medianCpuMs)}`,
    );
  }
  return lines.join('\n');
}
// `node --import tsx src/bench/engine.ts` (or the compiled .js) runs it directly.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const r = await benchEngine({ log: (l) => console.error(l) });
  console.log(formatEngineBench(r));
  tf.disposeVariables();
}
