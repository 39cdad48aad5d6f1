import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine/backend.js';
import { activeEngine, inferenceThreads } from '../engine/inference/index.js';
import { findTorchPython, peerScript } from './torch-peer.js';
import { saveModel } from '../engine/graph/index.js';
import { VisageError, isVisageError, type ErrorCode } from '../errors.js';
import { decodeImage } from '../image/decode.js';
import { crop, imageToTensor, resize, type RgbImage } from '../image/index.js';
import { dependencyDir } from '../paths.js';
import { median } from '../util/stats.js';
import { GraphFeatureNet, type FeatureNet, type PreprocessSpec } from '../style/feature-net.js';
import { defaultStyleNetwork, stylize, type StylizeResult } from '../style/index.js';
import { randomVgg19 } from '../style/nets/vgg19.js';
import { generatedStyleImage } from '../style/sample-style.js';
import { evaluateCostsOnEngine, type TransferOptions } from '../style/transfer.js';

/**
 * `visage bench style`: seconds per iteration of the real style-transfer loop (runTransfer via stylize,
 * default options) for the shipped InceptionV3 and a random-weight VGG-19 on the engine the product uses
 * (onnxruntime on every core by default, tfjs-wasm on one thread with VISAGE_ENGINE=tfjs), and the same
 * iteration of the same network in PyTorch with the same thread count (bench/peers/torch_style_step.py
 * interprets our exported NetworkDef). Each case runs in a fresh Node process: maxRSS (and the wasm heap,
 * which never shrinks) are per process.
 */

export type StyleBenchNetwork = 'inception' | 'vgg19';
export const STYLE_BENCH_NETWORKS: readonly StyleBenchNetwork[] = ['inception', 'vgg19'];

/** One case, run in a child process by `runStyleCase`. */
export interface StyleBenchCase {
  network: StyleBenchNetwork;
  /** Square output size (one scale), or the output long side with `coarseToFine`. */
  size: number;
  /** Timed iterations (per scale with `coarseToFine`). */
  iterations: number;
  /** Untimed iterations before them (≥ 1: iteration k is timed from the end of iteration k−1). */
  warmup: number;
  /** Run stylize's own coarse-to-fine ladder for `size` (the 1024-px memory check). */
  coarseToFine?: boolean;
  /** Write the PyTorch peer's inputs here (model/, config.json, images as raw float32). */
  exportDir?: string;
}

export interface StyleCaseResult {
  network: string;
  width: number;
  height: number;
  scales: number[];
  iterations: number;
  warmup: number;
  /** Median seconds of the timed iterations (of the last scale with coarseToFine). */
  secondsPerIteration: number;
  iterationSeconds: number[];
  /** Median process CPU seconds of the timed iterations (less sensitive than wall time to a loaded machine). */
  cpuSecondsPerIteration: number;
  /** Median s/iteration per scale (coarse-to-fine: each scale's first iteration excluded). */
  secondsPerIterationByScale: number[];
  /** Network load + engine start. */
  loadSeconds: number;
  /** Whole stylize call (targets, iterations, before/after costs). */
  stylizeSeconds: number;
  /** The wasm heap's byte length at the end (it only grows: the case's peak); 0 on other backends. */
  peakHeapBytes: number;
  peakTensorBytes: number;
  /** process.resourceUsage().maxRSS before the peer export. */
  peakRssBytes: number;
  backend: string;
  /** Engine of the network, costs and gradient (stylize's stats), and its intra-op threads. */
  engine: 'onnx' | 'tfjs';
  threads: number;
  /** J and its parts of the check image (reference for the peer), when exported. */
  check?: { J: number; Jcontent: number; Jstyle: number; Jtv: number };
}

/** PYRAMID_LEVELS of transfer.ts (the peer rebuilds the same parametrisation). */
const PYRAMID_LEVELS = 5;

function wasmHeapBytes(): number {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return tf.getBackend() === 'wasm' ? (b.wasm?.HEAPU8?.buffer.byteLength ?? 0) : 0;
}

/** A photo shipped with @vladmandic/face-api (the demo's content image), centre-cropped square. */
async function contentImage(size: number): Promise<RgbImage> {
  const dir = dependencyDir('@vladmandic/face-api');
  const file = dir ? path.join(dir, 'demo', 'sample3.jpg') : '';
  if (!file || !fs.existsSync(file))
    throw new VisageError(
      'E_MODEL_NOT_FOUND',
      'the sample photos of @vladmandic/face-api are missing: run npm ci',
    );
  const img = await decodeImage(file);
  const s = Math.min(img.width, img.height);
  const sq = crop(img, {
    x: Math.floor((img.width - s) / 2),
    y: Math.floor((img.height - s) / 2),
    width: s,
    height: s,
  });
  return resize(sq, size, size);
}

async function loadNetwork(network: StyleBenchNetwork): Promise<FeatureNet> {
  await initEngine();
  return network === 'inception' ? defaultStyleNetwork() : randomVgg19(1);
}

function writeF32(file: string, data: Float32Array): void {
  fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

function imageF32(img: RgbImage): Float32Array {
  return Float32Array.from(img.data);
}

/** Fail loudly if the peer's preprocess spec no longer matches the network's own. */
function checkPreprocess(net: FeatureNet, spec: PreprocessSpec, img: RgbImage): void {
  const diff = tf.tidy(() => {
    const x = tf.expandDims(imageToTensor(img, { scale: 1 }), 0) as tf.Tensor4D;
    const ours = net.preprocess(x);
    const perm = tf.gather(x, spec.perm, 3);
    const spec_ = tf.add(tf.mul(perm, tf.tensor1d(spec.scale)), tf.tensor1d(spec.offset));
    return tf.max(tf.abs(tf.sub(ours, spec_))).dataSync()[0];
  });
  if (!(diff < 1e-4))
    throw new VisageError(
      'E_INTERNAL',
      `the peer's preprocessing of ${net.name} differs from ours by ${diff}`,
    );
}

/** The inputs of torch_style_step.py for this case (see its docstring). */
async function exportForPeer(
  dir: string,
  network: StyleBenchNetwork,
  net: FeatureNet,
  content: RgbImage,
  style: RgbImage,
  r: StylizeResult,
): Promise<NonNullable<StyleCaseResult['check']>> {
  if (!(net instanceof GraphFeatureNet) || !net.preprocessSpec)
    throw new VisageError('E_INTERNAL', `network ${net.name} is not a NetworkDef graph: cannot export it`);
  const spec = net.preprocessSpec;
  checkPreprocess(net, spec, content);
  const opts: TransferOptions = r.options;
  saveModel(path.join(dir, 'model'), { def: net.def, weights: net.weights, meta: {} });
  // The check image: half content, half style (deterministic, far from both targets).
  const g: RgbImage = {
    width: content.width,
    height: content.height,
    data: content.data.map((v, i) => (v + style.data[i]) >> 1),
  };
  // J on the engine the iterations ran on: the peer is checked against what was timed.
  const { costs } = await evaluateCostsOnEngine(net, g, content, [{ image: style, weight: 1 }], opts);
  const tap = tf.tidy(() => {
    const x = tf.expandDims(imageToTensor(content, { scale: 1 }), 0) as tf.Tensor4D;
    return net.forward(net.preprocess(x), [opts.contentLayer])[opts.contentLayer];
  });
  writeF32(path.join(dir, 'tap.f32'), tap.dataSync() as Float32Array);
  const tapShape = [...tap.shape];
  tap.dispose();
  writeF32(path.join(dir, 'content.f32'), imageF32(content));
  writeF32(path.join(dir, 'style.f32'), imageF32(style));
  writeF32(path.join(dir, 'check.f32'), imageF32(g));
  if (opts.optimizer !== 'adam')
    throw new VisageError('E_INTERNAL', `the peer implements the Adam iteration, not ${opts.optimizer}`);
  const config = {
    width: content.width,
    height: content.height,
    contentLayer: opts.contentLayer,
    styleLayers: opts.styleLayers,
    contentWeight: opts.contentWeight,
    styleWeight: opts.styleWeight,
    tvWeight: opts.tvWeight,
    normalizeStyleLayers: opts.normalizeStyleLayers,
    smoothing: opts.smoothing,
    parametrization: opts.parametrization,
    pyramidLevels: PYRAMID_LEVELS,
    learningRate: opts.learningRate,
    initNoise: opts.initNoise,
    jitter: opts.jitter,
    preprocess: spec,
    tapShape,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 1));
  return { J: costs.J, Jcontent: costs.Jcontent, Jstyle: costs.Jstyle, Jtv: costs.Jtv };
}

/** One case in this process: stylize with the default options, timing iterations through onProgress. */
export async function runStyleCase(c: StyleBenchCase): Promise<StyleCaseResult> {
  if (!(c.warmup >= 1))
    throw new VisageError('E_BAD_OPTION', `warm-up must be ≥ 1 iteration, got ${c.warmup}`);
  const t0 = performance.now();
  const net = await loadNetwork(c.network);
  const loadSeconds = (performance.now() - t0) / 1000;
  const content = await contentImage(c.size);
  const style = generatedStyleImage(c.size);
  const n = c.warmup + c.iterations;
  // End time of each iteration, per scale: iteration k's duration is the gap since iteration k−1 ended.
  const ends: number[][] = [];
  const cpuEnds: number[][] = [];
  const cpuSeconds = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const t1 = performance.now();
  const r = await stylize(content, [style], {
    network: net,
    ...(c.coarseToFine ? { size: c.size } : { scales: [c.size] }),
    iterations: n,
    onProgress: (p) => {
      (ends[p.scale] ??= []).push(performance.now() / 1000);
      (cpuEnds[p.scale] ??= []).push(cpuSeconds());
    },
  });
  const stylizeSeconds = (performance.now() - t1) / 1000;
  const diffs = (e: number[]) => e.slice(1).map((t, i) => t - e[i]);
  const gaps = ends.map(diffs);
  const timed = (g: number[][]) =>
    c.coarseToFine ? (g[g.length - 1] ?? []) : (g[0] ?? []).slice(c.warmup - 1);
  const iterationSeconds = timed(gaps);
  const result: StyleCaseResult = {
    network: net.name,
    width: r.image.width,
    height: r.image.height,
    scales: r.options.scales,
    iterations: c.iterations,
    warmup: c.warmup,
    secondsPerIteration: median(iterationSeconds),
    iterationSeconds,
    cpuSecondsPerIteration: median(timed(cpuEnds.map(diffs))),
    secondsPerIterationByScale: gaps.map(median),
    loadSeconds,
    stylizeSeconds,
    peakHeapBytes: Math.max(r.stats.wasmHeapBytes, wasmHeapBytes()),
    peakTensorBytes: r.stats.peakTensorBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    backend: tf.getBackend(),
    engine: r.stats.engine,
    threads: r.stats.threads,
  };
  if (c.exportDir) result.check = await exportForPeer(c.exportDir, c.network, net, content, style, r);
  return result;
}

/** Marker of the child's result line on stdout. */
const RESULT_MARK = '@@visage-style-bench@@';

/** Entry of the child process (style-case.ts): runs argv's case and prints the marked result. */
export async function styleCaseMain(arg: string | undefined): Promise<void> {
  try {
    const r = await runStyleCase(JSON.parse(arg ?? '') as StyleBenchCase);
    process.stdout.write(`\n${RESULT_MARK}${JSON.stringify({ ok: r })}\n`);
  } catch (e) {
    const err = isVisageError(e)
      ? e.toJSON()
      : { code: 'E_INTERNAL', message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    process.stdout.write(`\n${RESULT_MARK}${JSON.stringify({ error: err })}\n`);
  }
}

/** `node <style-case>` argv: plain when compiled, through tsx's loader when running from sources. */
function caseCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const entry = path.join(path.dirname(here), `style-case${path.extname(here)}`);
  return entry.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), entry] : [entry];
}

/** Run a case in a fresh Node process. */
export function runCaseInChild(c: StyleBenchCase): Promise<StyleCaseResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...caseCommand(), JSON.stringify(c)],
      { maxBuffer: 64 << 20, env: process.env },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
        if (!line) {
          reject(
            new VisageError(
              'E_INTERNAL',
              `style bench case ${c.network} ${c.size} px died (${err?.message ?? 'no result'}): ${stderr.slice(-2000)}`,
            ),
          );
          return;
        }
        const msg = JSON.parse(line.slice(RESULT_MARK.length)) as
          | { ok: StyleCaseResult }
          | { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
        if ('ok' in msg) resolve(msg.ok);
        else reject(new VisageError(msg.error.code, msg.error.message, msg.error.details));
      },
    );
  });
}

// ---- the PyTorch peer ----

export { findTorchPython };

export function stylePeerScript(): string {
  return peerScript('torch_style_step.py');
}

export interface TorchStyleRun {
  threads: number;
  secondsPerIteration: number;
  cpuSecondsPerIteration: number;
  peakRssBytes: number;
}

export type TorchStyleResult =
  | {
      version: string;
      /** |J_torch − J_ours| / |J_ours| on the check image, and the content tap's max |Δ| / max |tap|. */
      check: { J: number; Jtorch: number; relDiff: number; tapRelDiff: number };
      runs: TorchStyleRun[];
      /** ours ÷ torch s/iteration, per thread count (> 1: we are slower). */
      ratio: Record<string, number>;
      /** ours ÷ torch CPU seconds per iteration, torch at its first thread count (1). */
      cpuRatio: number;
    }
  | { skipped: string }
  | { failed: string };

/** Worse than this relative difference and the peer did not run the same network/costs: its row fails. */
export const PEER_CHECK_TOLERANCE = 1e-3;

interface PeerJson {
  torch: string;
  threads: number;
  secondsPerIteration: number;
  cpuSecondsPerIteration: number;
  peakRssBytes: number;
  check?: { J: number; tapRelDiff: number };
}

function runPeer(
  py: string,
  dir: string,
  threads: number,
  iterations: number,
  warmup: number,
  check: boolean,
) {
  const args = [
    stylePeerScript(),
    'run',
    `--dir=${dir}`,
    `--threads=${threads}`,
    `--iterations=${iterations}`,
    `--warmup=${warmup}`,
    ...(check ? ['--check'] : []),
  ];
  const text = execFileSync(py, args, {
    encoding: 'utf8',
    timeout: 1_800_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  return JSON.parse(text.trim().split('\n').pop() ?? '') as PeerJson;
}

function torchPeer(
  py: string,
  dir: string,
  ours: StyleCaseResult,
  threads: number[],
  iterations: number,
  warmup: number,
): TorchStyleResult {
  try {
    const runs: PeerJson[] = threads.map((t, i) => runPeer(py, dir, t, iterations, warmup, i === 0));
    const c = runs[0].check!;
    const ref = ours.check!;
    const relDiff = Math.abs(c.J - ref.J) / Math.abs(ref.J);
    if (!(relDiff <= PEER_CHECK_TOLERANCE && c.tapRelDiff <= PEER_CHECK_TOLERANCE))
      return {
        failed: `not the same computation: J rel. diff ${relDiff.toExponential(2)}, tap rel. diff ${c.tapRelDiff.toExponential(2)} (tolerance ${PEER_CHECK_TOLERANCE})`,
      };
    return {
      version: runs[0].torch,
      check: { J: ref.J, Jtorch: c.J, relDiff, tapRelDiff: c.tapRelDiff },
      runs: runs.map((r) => ({
        threads: r.threads,
        secondsPerIteration: r.secondsPerIteration,
        cpuSecondsPerIteration: r.cpuSecondsPerIteration,
        peakRssBytes: r.peakRssBytes,
      })),
      ratio: Object.fromEntries(
        runs.map((r) => [String(r.threads), ours.secondsPerIteration / r.secondsPerIteration]),
      ),
      cpuRatio: ours.cpuSecondsPerIteration / runs[0].cpuSecondsPerIteration,
    };
  } catch (e) {
    const err = e as Error & { stderr?: string };
    return { failed: `peer error: ${(err.stderr || err.message).trim().split('\n').slice(-3).join(' | ')}` };
  }
}

// ---- the bench ----

export interface StyleBenchRow extends StyleCaseResult {
  case: StyleBenchNetwork;
  size: number;
  torch: TorchStyleResult;
}

export interface StyleBenchOptions {
  sizes?: number[];
  networks?: StyleBenchNetwork[];
  /** Timed iterations per case (median reported). Default 5. */
  iterations?: number;
  /** Untimed iterations first. Default 2. */
  warmup?: number;
  /** Run the PyTorch peer when a python3 with torch is found. Default true. */
  torch?: boolean;
  /** Thread counts of the peer. Default: the threads our engine runs on (every core; 1 on tfjs). */
  torchThreads?: number[];
  /** Coarse-to-fine check at this size (e.g. 1024) for each network, with `checkIterations` per scale. */
  checkSize?: number;
  checkIterations?: number;
  log?: (m: string) => void;
}

export interface StyleBench {
  /** Ours: onnxruntime on `threads` intra-op threads, or tfjs (wasm SIMD in Node is single-threaded). */
  engine: { engine: 'onnx' | 'tfjs'; threads: number; backend: string };
  /** The peer's thread counts (ratios are per count). */
  torchThreads: number[];
  loadAverage: number[];
  cpus: number;
  rows: StyleBenchRow[];
  /** Coarse-to-fine runs, one per network; `fits` only means something on tfjs (its 4 GiB heap). */
  coarseToFine?: Array<StyleCaseResult & { case: StyleBenchNetwork; heapLimitBytes: number; fits: boolean }>;
}

const WASM_HEAP_LIMIT = 4 * 2 ** 30;

export async function benchStyle(opts: StyleBenchOptions = {}): Promise<StyleBench> {
  const sizes = opts.sizes ?? [256, 512];
  const networks = opts.networks ?? [...STYLE_BENCH_NETWORKS];
  const iterations = opts.iterations ?? 5;
  const warmup = opts.warmup ?? 2;
  // Both bench networks run on onnxruntime unless the engine is tfjs (each row says what ran).
  const active = await activeEngine();
  const ourEngine = { engine: active, threads: active === 'onnx' ? inferenceThreads() : 1 };
  const threads = opts.torchThreads ?? [ourEngine.threads];
  for (const s of [...sizes, ...(opts.checkSize !== undefined ? [opts.checkSize] : [])])
    if (!Number.isInteger(s) || s < 32)
      throw new VisageError('E_BAD_OPTION', `sizes must be integers ≥ 32, got ${s}`);
  for (const n of networks)
    if (!STYLE_BENCH_NETWORKS.includes(n))
      throw new VisageError('E_BAD_OPTION', `unknown network ${n} (${STYLE_BENCH_NETWORKS.join(', ')})`);
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new VisageError('E_BAD_OPTION', `iterations must be an integer ≥ 1, got ${iterations}`);
  if (!Number.isInteger(warmup) || warmup < 1)
    throw new VisageError('E_BAD_OPTION', `warm-up must be an integer ≥ 1, got ${warmup}`);

  const py = opts.torch === false ? undefined : findTorchPython();
  const peerMissing = !fs.existsSync(stylePeerScript());
  const rows: StyleBenchRow[] = [];
  let backend = '';
  for (const network of networks) {
    for (const size of sizes) {
      opts.log?.(
        `${network} ${size}×${size}: ${warmup} warm-up + ${iterations} timed iterations (fresh process)…`,
      );
      const dir =
        py && !peerMissing ? fs.mkdtempSync(path.join(os.tmpdir(), 'visage-style-bench-')) : undefined;
      try {
        const ours = await runCaseInChild({ network, size, iterations, warmup, exportDir: dir });
        backend = ours.backend;
        if (ours.threads !== ourEngine.threads || ours.engine !== ourEngine.engine)
          opts.log?.(`  (ran on ${ours.engine}, ${ours.threads} thread(s))`);
        let torch: TorchStyleResult;
        if (!py)
          torch = {
            skipped: opts.torch === false ? 'disabled' : 'no python3 with torch (set VISAGE_PYTHON)',
          };
        else if (!dir) torch = { skipped: `${stylePeerScript()} not found` };
        else {
          opts.log?.(`  PyTorch peer, ${threads.join(' and ')} thread(s)…`);
          torch = torchPeer(py, dir, ours, threads, iterations, warmup);
        }
        rows.push({ case: network, size, ...ours, torch });
      } finally {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  let coarseToFine: StyleBench['coarseToFine'];
  if (opts.checkSize !== undefined) {
    const per = opts.checkIterations ?? 2;
    coarseToFine = [];
    for (const network of networks) {
      opts.log?.(
        `coarse-to-fine check: ${network} at ${opts.checkSize} px, ${per} iterations per scale (fresh process)…`,
      );
      const r = await runCaseInChild({
        network,
        size: opts.checkSize,
        iterations: per,
        warmup: 1,
        coarseToFine: true,
      });
      backend = r.backend;
      coarseToFine.push({
        ...r,
        case: network,
        heapLimitBytes: WASM_HEAP_LIMIT,
        fits: r.engine === 'onnx' || r.peakHeapBytes <= WASM_HEAP_LIMIT,
      });
    }
  }
  return {
    engine: { engine: ourEngine.engine, threads: ourEngine.threads, backend },
    torchThreads: threads,
    loadAverage: os.loadavg(),
    cpus: os.cpus().length,
    rows,
    coarseToFine,
  };
}

// ---- text output ----

const mb = (b: number) => (b > 0 ? (b / 2 ** 20).toFixed(0) : '–');
const sec = (s: number | undefined) =>
  s === undefined || !Number.isFinite(s) ? '–' : s.toFixed(s < 1 ? 3 : 2);

export function formatStyleBench(b: StyleBench): string {
  const ts = b.torchThreads;
  const head = [
    'network',
    'size',
    'engine',
    's/it',
    'RSS MB',
    ...ts.map((t) => `torch ${t}T s/it`),
    ...ts.map((t) => `ratio ${t}T`),
    `CPU ratio ${ts[0]}T`,
  ];
  const table: string[][] = [head];
  const notes: string[] = [];
  for (const r of b.rows) {
    const t = r.torch;
    const run = (n: number) => ('runs' in t ? t.runs.find((x) => x.threads === n) : undefined);
    table.push([
      r.network,
      `${r.width}×${r.height}`,
      `${r.engine} ${r.threads}T`,
      sec(r.secondsPerIteration),
      mb(r.peakRssBytes),
      ...ts.map((n) => sec(run(n)?.secondsPerIteration)),
      ...ts.map((n) => ('ratio' in t && t.ratio[String(n)] ? `${t.ratio[String(n)].toFixed(2)}×` : '–')),
      'cpuRatio' in t ? `${t.cpuRatio.toFixed(2)}×` : '–',
    ]);
    if ('skipped' in t) notes.push(`${r.network} ${r.size}: PyTorch skipped (${t.skipped})`);
    else if ('failed' in t) notes.push(`${r.network} ${r.size}: PyTorch row FAILED: ${t.failed}`);
    else
      notes.push(
        `${r.network} ${r.size}: same network in PyTorch ${t.version}: J rel. diff ${t.check.relDiff.toExponential(1)}, ` +
          `content tap rel. diff ${t.check.tapRelDiff.toExponential(1)}; torch peak RSS ${t.runs.map((x) => `${mb(x.peakRssBytes)} MB (${x.threads}T)`).join(', ')}`,
      );
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) =>
    row.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const engine =
    b.engine.engine === 'onnx'
      ? `onnxruntime, ${b.engine.threads} intra-op thread(s)`
      : `tfjs ${b.engine.backend}, single-threaded`;
  const out = [
    `style-transfer iteration (default options: Adam, decorrelated pyramid, jitter, content + Gram style + TV costs); ` +
      `ours: ${engine}; PyTorch with ${ts.join(' and ')} thread(s); ratio = ours ÷ torch wall s/it (> 1: slower), ` +
      `CPU ratio = ours ÷ torch process CPU s/it`,
    ...lines,
    ...notes,
  ];
  for (const c of b.coarseToFine ?? [])
    out.push(
      `coarse-to-fine ${c.network} ${c.scales.join('→')} (${c.iterations} it/scale, ${c.engine} ${c.threads}T): ` +
        `wall ${c.stylizeSeconds.toFixed(1)} s, s/it by scale ${c.secondsPerIterationByScale.map((x) => sec(x)).join(' / ')}, ` +
        `peak RSS ${mb(c.peakRssBytes)} MB` +
        (c.engine === 'tfjs'
          ? `, peak heap ${mb(c.peakHeapBytes)} MB of ${mb(c.heapLimitBytes)} MB (${c.fits ? 'fits' : 'DOES NOT FIT'})`
          : ''),
    );
  out.push(`load average ${b.loadAverage.map((l) => l.toFixed(2)).join(' ')} on ${b.cpus} CPU(s)`);
  return out.join('\n');
}
