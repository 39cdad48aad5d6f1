import type { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { envThreads } from '../../config.js';
import { findTorchPython, peerScript } from '../../bench/torch-peer.js';
import { forwardFlops, initWeights, type NetworkDef } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import {
  AUGMENT_NAMES,
  augmentSpec,
  DEFAULT_AUGMENT,
  type AugmentOptions,
} from '../../training/data/augment.js';
import { Rng } from '../../training/data/rng.js';
import { resnetEmbedding } from '../../training/nets/resnet.js';
import { smallCnn } from '../../training/nets/small-cnn.js';
import { worstFirst } from '../../training/report/index.js';
import { TrainingStep, type TrainingEngine } from '../../training/step.js';
import {
  train,
  type TrainEpoch,
  type TrainOptions,
  type TrainResult,
  type TrainSettings,
} from '../../training/trainer.js';
import { emit, note } from '../output.js';
import { progressBar, type Progress } from '../progress.js';
import { parseNumber } from './faces.js';
import { assertInputDir, assertOutputDir } from '../../files.js';

interface TrainCliOptions {
  data?: string;
  out: string;
  resume?: boolean;
  valIdentities?: string;
  detect?: boolean;
  fit?: string;
  encoder?: string;
  model?: string;
  freeze?: string;
  size?: string;
  channels?: string;
  width?: string;
  depth?: string;
  dim?: string;
  head?: string;
  loss?: string;
  mining?: string;
  margin?: string;
  softMargin?: boolean;
  softmax?: string;
  valFlip?: boolean;
  identities?: string;
  images?: string;
  optimizer?: string;
  lr?: string;
  momentum?: string;
  weightDecay?: string;
  ema?: string;
  schedule?: string;
  lrStep?: string;
  lrGamma?: string;
  augment?: boolean | string;
  epochs?: string;
  batches?: string;
  seed?: string;
  threads?: string;
  engine?: string;
}

export function parseEngine(v: string): TrainingEngine {
  if (v === 'tfjs' || v === 'onnxruntime') return v;
  throw new VisageError('E_BAD_OPTION', `--engine must be tfjs or onnxruntime, got ${v}`);
}

const int = (v: string | undefined, what: string) => parseNumber(v, what, (n) => Number.isInteger(n));
const num = (v: string | undefined, what: string) => parseNumber(v, what);
const pct = (v: number | null | undefined) =>
  typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : '—';

/**
 * CLI options → trainer options. Only what was given is passed (no commander defaults), so that --resume
 * can tell a changed setting from an omitted one; the defaults live in TRAIN_DEFAULTS.
 */
export function trainOptionsFromCli(o: TrainCliOptions): TrainOptions {
  const v = o.valIdentities;
  const valIdentities =
    v === undefined
      ? undefined
      : /^\d+$/.test(v.trim())
        ? Number(v)
        : v
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean);
  const channels = int(o.channels, '--channels');
  return {
    data: o.data,
    out: o.out,
    resume: o.resume,
    valIdentities,
    detect: o.detect === false ? false : undefined,
    fit: o.fit as TrainSettings['fit'] | undefined,
    encoder: o.encoder as TrainSettings['encoder'] | undefined,
    model: o.model,
    freeze: int(o.freeze, '--freeze'),
    size: int(o.size, '--size'),
    channels: channels as 1 | 3 | undefined,
    width: int(o.width, '--width'),
    depth: int(o.depth, '--depth'),
    dim: int(o.dim, '--dim'),
    head: o.head as 'avg' | 'flatten' | undefined,
    loss: o.loss as TrainSettings['loss'] | undefined,
    mining: o.mining,
    margin: num(o.margin, '--margin'),
    softMargin: o.softMargin ? true : undefined,
    softmax: num(o.softmax, '--softmax'),
    valFlip: o.valFlip ? true : undefined,
    P: int(o.identities, '--identities (P)'),
    K: int(o.images, '--images (K)'),
    optimizer: o.optimizer as TrainSettings['optimizer'] | undefined,
    lr: num(o.lr, '--lr'),
    momentum: num(o.momentum, '--momentum'),
    weightDecay: num(o.weightDecay, '--weight-decay'),
    ema: num(o.ema, '--ema'),
    schedule: o.schedule as TrainSettings['schedule'] | undefined,
    lrStep: int(o.lrStep, '--lr-step'),
    lrGamma: num(o.lrGamma, '--lr-gamma'),
    augment:
      o.augment === false ? false : typeof o.augment === 'string' ? parseAugmentSpec(o.augment) : undefined,
    epochs: int(o.epochs, '--epochs'),
    batchesPerEpoch: int(o.batches, '--batches'),
    seed: int(o.seed, '--seed'),
    threads: int(o.threads, '--threads'),
    engine: o.engine === undefined ? undefined : parseEngine(o.engine),
  };
}

/** `rotation=15,shift=0.1,flip=0` → AugmentOptions (ranges are checked by the trainer). */
export function parseAugmentSpec(spec: string): AugmentOptions {
  const out: AugmentOptions = {};
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(part);
    const key = m && (AUGMENT_NAMES as Record<string, keyof AugmentOptions>)[m[1]];
    if (!m || !key)
      throw new VisageError(
        'E_BAD_OPTION',
        `--augment takes name=value pairs with names ${Object.keys(AUGMENT_NAMES).join(', ')}; got "${part}"`,
      );
    const v = Number(m[2]);
    if (!Number.isFinite(v))
      throw new VisageError('E_BAD_OPTION', `--augment ${m[1]} must be a number, got ${m[2]}`);
    if (key === 'flip') {
      if (v !== 0 && v !== 1)
        throw new VisageError('E_BAD_OPTION', `--augment flip must be 0 or 1, got ${m[2]}`);
      out.flip = v === 1;
    } else out[key] = v;
  }
  return out;
}

/** The held-out people the model errs on most (false rejects first), so a user sees whom to look at. */
function hardestLine(heldOut: TrainResult['heldOut']): string[] {
  const worst = worstFirst(heldOut ?? [])
    .filter((h) => h.falseReject > 0 || h.falseAccept > 0)
    .slice(0, 3);
  if (!worst.length) return [];
  const rates = worst.map((h) => `${h.name} ${pct(h.falseReject)} / ${pct(h.falseAccept)}`);
  return [
    `hardest held-out identities (false rejects / false accepts): ${rates.join(', ')} (all in the report)`,
  ];
}

function epochLine(e: TrainEpoch, epochs: number): string {
  const parts = [
    `epoch ${e.epoch}/${epochs}`,
    `loss ${e.loss.toFixed(4)}`,
    ...(Number.isFinite(e.activeFraction) ? [`active ${pct(e.activeFraction)}`] : []),
    ...(Number.isFinite(e.meanDap) ? [`d(a,p) ${e.meanDap.toFixed(3)} d(a,n) ${e.meanDan.toFixed(3)}`] : []),
    ...(e.pairAccuracy !== undefined ? [`train pairs ${pct(e.pairAccuracy)}`] : []),
    ...(e.valAccuracy !== null && e.valAccuracy !== undefined
      ? [
          `val acc ${pct(e.valAccuracy)} (τ ${e.valThreshold?.toFixed(3)})`,
          `AUC ${e.valAuc?.toFixed(4)}`,
          `rank-1 ${pct(e.valRank1)}`,
        ]
      : []),
    `${e.seconds.toFixed(1)} s`,
  ];
  return parts.join(' | ');
}

async function runTrain(o: TrainCliOptions): Promise<void> {
  const opts = trainOptionsFromCli(o);
  if (o.data) assertInputDir(o.data, '--data', 'E_BAD_DATASET');
  assertOutputDir(o.out, '--out');
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    note('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)…');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let bar: Progress | undefined;
  let epochs = 0;
  try {
    const r = await train(opts, {
      signal: controller.signal,
      log: (m) => {
        bar?.stop();
        bar = undefined;
        note(m);
      },
      onLoad: (done, total) => {
        bar ??= progressBar('loading images', total);
        bar.update(done);
        if (done === total) {
          bar.stop();
          bar = undefined;
        }
      },
      onStart: (i) => {
        epochs = Math.round(i.totalSteps / i.batchesPerEpoch);
        note(
          `${i.resumed ? 'resuming' : 'training'}: ${i.totalSteps} steps (${epochs} epochs × ${i.batchesPerEpoch} batches)${i.resumed ? `, ${i.doneSteps} done` : ''}`,
        );
      },
      onStep: (s) => {
        bar ??= progressBar('training', s.totalSteps, ['epoch', 'loss']);
        bar.update(s.step, { epoch: s.epoch + 1, loss: s.loss.toFixed(4) });
      },
      onEpoch: (e) => {
        bar?.stop();
        bar = undefined;
        note(epochLine(e, epochs));
      },
    });
    bar?.stop();
    emit(r, () =>
      r.interrupted
        ? `interrupted after step ${r.steps}; checkpoint in ${r.checkpoint} (continue with --resume)`
        : [
            `trained ${r.history.length} epochs (${r.steps} steps) on ${r.trainIdentities} identities (${r.images.train} images)`,
            ...(r.before && r.after
              ? [
                  `validation on ${r.valIdentities} held-out identities: pair accuracy ${pct(r.before.accuracy)} → ${pct(r.after.accuracy)}, AUC ${r.before.auc.toFixed(4)} → ${r.after.auc.toFixed(4)}, rank-1 ${pct(r.before.rank1)} → ${pct(r.after.rank1)}`,
                ]
              : []),
            ...hardestLine(r.heldOut),
            `model ${r.modelId} saved to ${r.model} (use it with --model ${r.model})`,
            `report: ${r.report}`,
          ].join('\n'),
    );
    if (r.interrupted) process.exitCode = 130;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}

// ---- bench train ---------------------------------------------------------------------------------

interface BenchNet {
  name: string;
  def: NetworkDef;
  input: [number, number, number];
  torchArgs: string[];
}

export interface TrainBenchRow {
  net: string;
  engine: TrainingEngine;
  input: [number, number, number];
  batch: number;
  threads: number;
  medianMs: number;
  stepsPerSec: number;
  imagesPerSec: number;
  /** Arithmetic rate reached: 3 × forward conv/dense FLOPs per step (forward, input and weight gradients). */
  gflops: number;
  torch:
    | { medianMs: number; threads: number; version: string; ratio: number; gflops: number }
    | { skipped: string };
}

/** Steps/s and images/s of one forward + backward + Adam step at P×K = 8×4, for each net (and PyTorch's). */
export async function benchTrain(
  opts: {
    repeats?: number;
    /** Untimed steps first, for every engine and for PyTorch alike (allocators and caches settle). */
    warmup?: number;
    threads?: number;
    torch?: boolean;
    engines?: TrainingEngine[];
    log?: (m: string) => void;
  } = {},
): Promise<TrainBenchRow[]> {
  const engines = opts.engines ?? ['tfjs', 'onnxruntime'];
  const warmup = opts.warmup ?? 3;
  const repeats = opts.repeats ?? 5;
  const threads = opts.threads ?? envThreads();
  const P = 8;
  const K = 4;
  const n = P * K;
  const nets: BenchNet[] = [
    {
      name: 'small-cnn (w32, d4)',
      def: smallCnn({ inputSize: 64, channels: 1, width: 32, depth: 4 }),
      input: [64, 64, 1],
      torchArgs: ['--net=cnn', '--size=64', '--channels=1', '--width=32', '--cnn-depth=4'],
    },
    {
      name: 'ResNet-18',
      def: resnetEmbedding({ depth: 18, inputSize: 112, channels: 3 }),
      input: [112, 112, 3],
      torchArgs: ['--depth=18', '--size=112'],
    },
  ];
  const py = opts.torch === false ? undefined : findTorchPython();
  const script = peerScript('torch_train_step.py');
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / K));
  const rows: TrainBenchRow[] = [];
  for (const net of nets) {
    const [h, w, c] = net.input;
    const rng = new Rng(1);
    const images = Float32Array.from({ length: n * h * w * c }, () => rng.uniform(-1, 1));
    const stepFlops = 3 * n * forwardFlops(net.def, net.input);
    const measured: Array<{ engine: TrainingEngine; medianMs: number }> = [];
    for (const engine of engines) {
      opts.log?.(
        `${net.name} on ${engine}: ${repeats} timed steps after ${warmup} warm-up, ${threads} thread(s)…`,
      );
      const step = await TrainingStep.create({
        def: net.def,
        weights: initWeights(net.def, net.input, 1),
        input: net.input,
        threads,
        engine,
      });
      const times: number[] = [];
      try {
        for (let r = 0; r < warmup; r++) await step.step(images, labels);
        for (let r = 0; r < repeats; r++) {
          const t = performance.now();
          await step.step(images, labels);
          times.push(performance.now() - t);
        }
      } finally {
        await step.close();
      }
      times.sort((a, b) => a - b);
      measured.push({ engine, medianMs: times[(times.length - 1) >> 1] });
    }
    let torch: { medianMs: number; threads: number; version: string } | { skipped: string };
    if (!py)
      torch = { skipped: opts.torch === false ? 'disabled' : 'no python3 with torch (set VISAGE_PYTHON)' };
    else if (!fs.existsSync(script)) torch = { skipped: `${script} not found` };
    else {
      opts.log?.(`${net.name} on PyTorch…`);
      const outText = execFileSync(
        py,
        [
          script,
          `--threads=${threads}`,
          `--identities=${P}`,
          `--per-identity=${K}`,
          `--steps=${repeats}`,
          `--warmup=${warmup}`,
          ...net.torchArgs,
        ],
        { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const j = JSON.parse(outText.trim().split('\n').pop() ?? '') as {
        medianMs: number;
        threads: number;
        torch: string;
      };
      torch = { medianMs: j.medianMs, threads: j.threads, version: j.torch };
    }
    for (const { engine, medianMs } of measured)
      rows.push({
        net: net.name,
        engine,
        input: net.input,
        batch: n,
        threads,
        medianMs,
        stepsPerSec: 1000 / medianMs,
        imagesPerSec: (n * 1000) / medianMs,
        gflops: stepFlops / medianMs / 1e6,
        torch:
          'skipped' in torch
            ? torch
            : { ...torch, ratio: torch.medianMs / medianMs, gflops: stepFlops / torch.medianMs / 1e6 },
      });
  }
  return rows;
}

function formatBench(rows: TrainBenchRow[]): string {
  return rows
    .map((r) => {
      const t =
        'skipped' in r.torch
          ? `PyTorch: skipped (${r.torch.skipped})`
          : `PyTorch ${r.torch.version}: ${r.torch.medianMs.toFixed(1)} ms (${r.torch.gflops.toFixed(0)} GFLOP/s) → Visage runs at ${r.torch.ratio.toFixed(2)}× its speed`;
      return `${r.net} on ${r.engine} ${r.input.join('×')}, batch ${r.batch} (8×4), ${r.threads} thread(s): ${r.medianMs.toFixed(1)} ms/step (${r.gflops.toFixed(0)} GFLOP/s), ${r.stepsPerSec.toFixed(2)} steps/s, ${r.imagesPerSec.toFixed(1)} images/s; ${t}`;
    })
    .join('\n');
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a face encoder (triplet or binary pair loss) on a folder of identity folders')
    .requiredOption('-o, --out <dir>', 'output folder: checkpoint/, model/, report.html, history.json')
    .option('-d, --data <dir>', 'folder of identity folders (one per person)')
    .option('--resume', 'continue from <out>/checkpoint exactly where it stopped')
    .option(
      '--val-identities <n|names>',
      'held-out identities: a count or a comma-separated list (default 20%)',
    )
    .option('--no-detect', 'pre-cropped faces (e.g. ORL, Yale B): the whole photo instead of detect + align')
    .option(
      '--fit <crop|pad>',
      'whole photos that are not square: crop the centre (default) or pad the short side with its edge pixels (keeps all of the face)',
    )
    .option('--encoder <kind>', 'small-cnn (from scratch, default) or finetune (a pretrained encoder)')
    .option(
      '-m, --model <dir|dlib>',
      'finetune: a Visage model folder, or dlib (the built-in dlib ResNet-34; a folder named dlib: ./dlib)',
    )
    .option(
      '--freeze <n>',
      'finetune: keep the first n weight blocks fixed (default 0; dlib: stem, 14 residual blocks, fc)',
    )
    .option('--size <px>', 'small-cnn: square input size (default 64)')
    .option('--channels <c>', 'small-cnn: 1 (grey, default) or 3 (colour)')
    .option('--width <n>', 'small-cnn: channels of the first stage (default 32)')
    .option('--depth <n>', 'small-cnn: stages (default 4)')
    .option('--dim <n>', 'small-cnn: embedding size (default 128)')
    .option('--head <kind>', 'small-cnn: avg (global average pooling, default) or flatten (keeps position)')
    .option('--loss <kind>', 'triplet (default) or binary (logistic head on |f(a) − f(b)|)')
    .option('--mining <kind>', 'triplet mining: hard (default), all, semi-hard or random')
    .option('--margin <α>', 'triplet margin (default 0.2)')
    .option('--soft-margin', 'softplus instead of the hinge')
    .option(
      '--softmax <weight>',
      'add an identity-softmax term (cosine logits against one learned proxy per training person) with this weight (default 0)',
    )
    .option(
      '--val-flip',
      'validate on the mean of each face’s and its mirror image’s embedding (test-time flip, as verify --flip); the model keeps it',
    )
    .option('-P, --identities <n>', 'identities per batch (default 8)')
    .option('-K, --images <n>', 'images per identity in a batch (default 4)')
    .option('--optimizer <kind>', 'adam (default) or sgd')
    .option('--lr <rate>', 'learning rate (default 0.001)')
    .option('--momentum <μ>', 'sgd momentum (default 0.9)')
    .option('--weight-decay <λ>', 'L2 weight decay on kernels (default 0)')
    .option(
      '--ema <decay>',
      'validate and save an exponential moving average of the weights with this decay, e.g. 0.99 (default 0: the last weights)',
    )
    .option('--schedule <kind>', 'learning-rate schedule: constant (default), cosine or step')
    .option('--lr-step <epochs>', 'step schedule: epochs between decays (default epochs/3)')
    .option('--lr-gamma <factor>', 'step schedule: decay factor (default 0.1)')
    .option(
      '--augment <strengths>',
      `augmentation strengths that override the defaults, e.g. rotation=15,shift=0.1 (default ${augmentSpec(DEFAULT_AUGMENT)})`,
    )
    .option('--no-augment', 'no flip / crop / rotation / brightness augmentation')
    .option('--epochs <n>', 'epochs (default 10)')
    .option('--batches <n>', 'batches per epoch (default: enough for every identity once)')
    .option('--seed <n>', 'seed of the split, batches, augmentation and initial weights (default 0)')
    .option(
      '--threads <n>',
      'threads (default: every core with onnxruntime; 1 with tfjs, where more = data-parallel workers, each shard batch-normalised on its own)',
    )
    .option(
      '--engine <name>',
      'onnxruntime (native CPU kernels, default) or tfjs (WebAssembly; slower, runs wherever Node does)',
    )
    .action((o: TrainCliOptions) => runTrain(o));

  const bench = program.commands.find((c) => c.name() === 'bench');
  if (!bench) throw new VisageError('E_INTERNAL', 'register the bench command before train');
  bench
    .command('train')
    .description(
      'training steps/s and images/s, small CNN and ResNet-18 at P×K = 8×4 (vs PyTorch if installed)',
    )
    .option('--repeats <n>', 'timed steps per network (median reported)', '5')
    .option('--warmup <n>', 'untimed steps first (every engine and PyTorch alike)', '3')
    .option('--threads <n>', 'worker threads (default: $VISAGE_THREADS or every core)')
    .option('--no-torch', 'skip the PyTorch peer even if it is installed')
    .option(
      '--engine <list>',
      'training engines to time: tfjs, onnxruntime or both (comma-separated)',
      'tfjs,onnxruntime',
    )
    .action(
      async (o: { repeats: string; warmup: string; threads?: string; torch: boolean; engine: string }) => {
        const repeats = parseNumber(o.repeats, '--repeats', (v) => Number.isInteger(v) && v >= 1);
        const warmup = parseNumber(o.warmup, '--warmup', (v) => Number.isInteger(v) && v >= 0);
        const threads = parseNumber(o.threads, '--threads', (v) => Number.isInteger(v) && v >= 1);
        const engines = o.engine.split(',').map((e) => parseEngine(e.trim()));
        const rows = await benchTrain({ repeats, warmup, threads, torch: o.torch, engines, log: note });
        emit(rows, () => formatBench(rows));
      },
    );
}
