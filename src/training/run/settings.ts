/**
 * A training run's settings, described once: the zod schema below holds every setting's type, range and
 * default (TRAIN_DEFAULTS is read off it), and the rules between settings. A refused setting is an
 * E_BAD_OPTION whose message names the CLI flag (`--lr must be a number > 0, got -1`).
 */
import path from 'node:path';
import { z } from 'zod';
import { envThreads } from '../../config.js';
import { VisageError } from '../../errors.js';
import { resolveAugment, type AugmentOptions, type FitMode } from '../data/index.js';
import { MINING_NAMES } from '../miners/index.js';
import { DLIB_MODEL_NAME } from '../nets/dlib.js';
import type { TrainingEngine } from '../step.js';

export type EncoderKind = 'small-cnn' | 'finetune';
export type LossKind = 'triplet' | 'binary';
export type ScheduleKind = 'constant' | 'cosine' | 'step';

const MAX = Number.MAX_SAFE_INTEGER;

/** An integer in lo…hi. */
const int = (flag: string, lo: number, hi = MAX) =>
  z.custom<number>((v) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi, {
    error: (iss) =>
      `--${flag} must be an integer in ${lo}…${hi === MAX ? '∞' : hi}, got ${String(iss.input)}`,
  });

/** A finite number that `ok` accepts; `what` says which ("a number > 0"). */
const num = (flag: string, ok: (v: number) => boolean, what: string) =>
  z.custom<number>((v) => typeof v === 'number' && Number.isFinite(v) && ok(v), {
    error: (iss) => `--${flag} must be ${what}, got ${String(iss.input)}`,
  });

/** One of `values`, listed in the message as `list`. */
const oneOf = <T extends string | number>(flag: string, values: readonly T[], list: string) =>
  z.custom<T>((v) => (values as readonly unknown[]).includes(v), {
    error: (iss) => `--${flag} must be ${list}, got ${String(iss.input)}`,
  });

const flag = (name: string) => z.boolean({ error: `--${name} must be true or false` });

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every setting but `data`, with its default: what shapes the run, stored in its checkpoint. */
const fields = z.object({
  /** Validation identities: a count (seeded choice; −1 = 20 % of them) or their folder names. */
  valIdentities: z
    .custom<number | string[]>(
      (v) =>
        typeof v === 'number'
          ? Number.isInteger(v) && v >= -1
          : Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0),
      {
        error: (iss) =>
          typeof iss.input === 'number'
            ? `--val-identities must be a count ≥ 0 or a list of names, got ${iss.input}`
            : '--val-identities must be a count or a comma-separated list of identity names',
      },
    )
    .default(-1),
  /** Detect and align faces (FacePipeline); false = pre-cropped sets, fitted (`fit`) + resize. */
  detect: flag('detect').default(true),
  /** Whole images of another aspect ratio (no-detect, or no face found): crop the centre or edge-pad. */
  fit: oneOf<FitMode>('fit', ['crop', 'pad'], 'crop or pad').default('crop'),
  encoder: oneOf<EncoderKind>('encoder', ['small-cnn', 'finetune'], 'small-cnn or finetune').default(
    'small-cnn',
  ),
  /** finetune: the Visage model folder to start from, or 'dlib' (DLIB_MODEL_NAME) for the built-in encoder. */
  model: z
    .string()
    .nullable()
    .default(null)
    // Absolute, so that --resume from another working directory finds (and compares) the same folder.
    .transform((m) => (m && m !== DLIB_MODEL_NAME ? path.resolve(m) : m)),
  /** finetune: leading weight blocks kept fixed (see weightBlocks; dlib: stem + residual blocks). */
  freeze: int('freeze', 0).default(0),
  /** Square training size in pixels and channels (small-cnn; a fine-tuned model fixes its own). */
  size: int('size', 16, 256).default(64),
  channels: oneOf<1 | 3>('channels', [1, 3], '1 or 3').default(1),
  width: int('width', 1, 512).default(32),
  depth: int('depth', 1, 6).default(4),
  dim: int('dim', 2, 4096).default(128),
  /** small-cnn: how the last feature map becomes the embedding ('avg' pooling or 'flatten'). */
  head: oneOf<'avg' | 'flatten'>('head', ['avg', 'flatten'], 'avg or flatten').default('avg'),
  loss: oneOf<LossKind>('loss', ['triplet', 'binary'], 'triplet or binary').default('triplet'),
  mining: oneOf<string>('mining', MINING_NAMES, `one of ${MINING_NAMES.join(', ')}`).default('hard'),
  margin: num('margin', (v) => v >= 0, 'a number ≥ 0').default(0.2),
  softMargin: flag('soft-margin').default(false),
  /** Weight of an identity-softmax term (ProxySoftmaxLoss) added to the triplet loss; 0 = none. */
  softmax: num('softmax', (v) => v >= 0, 'a number ≥ 0').default(0),
  /**
   * Validate with test-time flip augmentation (flipAverage: each image's and its mirror image's embedding
   * averaged, as `visage verify --flip`); the saved model then records `flip` for verify/identify to use.
   */
  valFlip: flag('val-flip').default(false),
  P: int('P', 2).default(8),
  K: int('K', 2).default(4),
  optimizer: oneOf<'adam' | 'sgd'>('optimizer', ['adam', 'sgd'], 'adam or sgd').default('adam'),
  lr: num('lr', (v) => v > 0, 'a number > 0').default(1e-3),
  momentum: num('momentum', (v) => v >= 0 && v < 1, 'in [0, 1)').default(0.9),
  weightDecay: num('weight-decay', (v) => v >= 0, 'a number ≥ 0').default(0),
  /** Decay of the parameters' exponential moving average that is validated and saved (ParameterAverage); 0 = none. */
  ema: num('ema', (v) => v >= 0 && v < 1, 'in [0, 1) (0: no averaging)').default(0),
  schedule: oneOf<ScheduleKind>(
    'schedule',
    ['constant', 'cosine', 'step'],
    'constant, cosine or step',
  ).default('constant'),
  /** step schedule: multiply the rate by `lrGamma` every `lrStep` epochs. */
  lrStep: int('lr-step', 0).default(0),
  lrGamma: num('lr-gamma', (v) => v > 0 && v <= 1, 'in (0, 1]').default(0.1),
  /** Training-time augmentation: false = none, true = the defaults (DEFAULT_AUGMENT), or strengths that override them. */
  augment: z
    .custom<boolean | AugmentOptions>((v) => typeof v === 'boolean' || isObject(v), {
      error: 'augment must be true, false or augmentation strengths',
    })
    .default(true),
  epochs: int('epochs', 1).default(10),
  /** Batches per epoch; 0 = enough for every training identity to appear once (PKSampler 'identities'). */
  batchesPerEpoch: int('batches', 0).default(0),
  seed: z
    .custom<number>((v) => Number.isSafeInteger(v), {
      error: (iss) => `--seed must be an integer, got ${String(iss.input)}`,
    })
    .default(0),
  /** 0 = auto: 1 with tfjs, every core with onnxruntime (see stepThreads). */
  threads: int('threads', 0, 256).default(0),
  /** Kernels the steps run on (see TrainingStep): tfjs (WebAssembly) or onnxruntime (native). */
  engine: oneOf<TrainingEngine>('engine', ['tfjs', 'onnxruntime'], 'tfjs or onnxruntime').default(
    'onnxruntime',
  ),
  /** Folder of identity folders (absolute once resolved). */
  data: z
    .custom<string>((v) => typeof v === 'string' && v.length > 0, {
      error: '--data <dir> (a folder of identity folders) is required',
    })
    // Absolute, so that --resume from another working directory finds (and compares) the same folders.
    .transform((d) => path.resolve(d)),
});

/** The settings schema with the rules between settings. */
export const TrainSettingsSchema = fields.superRefine((s, ctx) => {
  const refuse = (message: string) => ctx.addIssue({ code: 'custom', message });
  if (s.encoder === 'finetune' && !s.model)
    refuse(`--encoder finetune needs --model <dir|${DLIB_MODEL_NAME}> to start from`);
  if (s.encoder !== 'finetune' && s.model) refuse('--model is only used with --encoder finetune');
  if (s.freeze > 0 && s.encoder !== 'finetune') refuse('--freeze only applies to --encoder finetune');
  if (s.softmax > 0 && s.loss !== 'triplet') refuse('--softmax adds to the triplet loss (--loss triplet)');
  if (typeof s.augment === 'object')
    try {
      resolveAugment(s.augment);
    } catch (e) {
      refuse((e as Error).message);
    }
});

/** Everything that shapes the run (what a checkpoint stores and --resume must not change). */
export type TrainSettings = z.output<typeof TrainSettingsSchema>;

/** The defaults of every training setting (what `visage train --help` shows). */
export const TRAIN_DEFAULTS: Omit<TrainSettings, 'data'> = fields.omit({ data: true }).parse({});

/** What `train` takes besides the settings. */
const RunOptionsSchema = z.object({
  /** Output folder: checkpoint/, model/, report.html, history.json. */
  out: z.custom<string>((v) => typeof v === 'string' && v.length > 0, { error: '--out <dir> is required' }),
  /** Continue from `<out>/checkpoint/`; given settings must equal the saved ones. */
  resume: flag('resume').optional(),
});

/** Options of `train`: any TrainSettings (the rest take TRAIN_DEFAULTS) plus `resume` to continue from `out`/checkpoint. */
export type TrainOptions = Partial<TrainSettings> & z.input<typeof RunOptionsSchema>;

/** The first problem of a failed parse as E_BAD_OPTION (one message naming one flag, as the CLI prints it). */
function parseFirst<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new VisageError('E_BAD_OPTION', r.error.issues[0].message);
}

/** Splits `train`'s options into the run's (output folder, resume) and the given settings. */
export function runOptions(opts: TrainOptions): {
  out: string;
  resume: boolean;
  given: Partial<TrainSettings>;
} {
  const { out, resume, ...given } = opts;
  const r = parseFirst(RunOptionsSchema, { out, resume });
  return { out: path.resolve(r.out), resume: r.resume === true, given: stripUndefined(given) };
}

/** Fills in defaults and checks every setting (E_BAD_OPTION). */
export function resolveSettings(opts: Partial<TrainSettings>): TrainSettings {
  return parseFirst(TrainSettingsSchema, stripUndefined(opts));
}

/** The settings whose values differ (what a resume may not change). */
export function settingsDiff(a: TrainSettings, b: TrainSettings): string[] {
  return (Object.keys(a) as (keyof TrainSettings)[]).filter(
    (k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]),
  );
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Threads of the training step: as set, or for 0 ("auto") one with tfjs (more would be data-parallel, which
 * changes batch-norm's grouping and so the run) and every core with onnxruntime (its threads change
 * nothing but the speed).
 */
export function stepThreads(s: TrainSettings): number {
  if (s.threads > 0) return s.threads;
  return s.engine === 'onnxruntime' ? envThreads() : 1;
}

/** The batch builder's augmentation option for a run's `augment` setting. */
export function augmentOptions(a: TrainSettings['augment']): AugmentOptions | false {
  if (a === false) return false;
  return a === true ? {} : a;
}

/** Learning rate of global step `step` (0-based). */
export function learningRate(
  s: TrainSettings,
  step: number,
  totalSteps: number,
  batchesPerEpoch: number,
): number {
  if (s.schedule === 'cosine') return 0.5 * s.lr * (1 + Math.cos((Math.PI * step) / totalSteps));
  if (s.schedule === 'step') {
    const every = s.lrStep > 0 ? s.lrStep : Math.max(1, Math.floor(s.epochs / 3));
    return s.lr * Math.pow(s.lrGamma, Math.floor(Math.floor(step / batchesPerEpoch) / every));
  }
  return s.lr;
}
