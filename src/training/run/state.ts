/**
 * The checkpoint's state.json body (beside the weights and optimiser buffers, see ../checkpoint.ts): the
 * settings, the sampler position, the epoch history and the running sums of the current epoch, the loss's
 * own state, the validation before training, and the network as trained. Read back through its zod
 * schema; checkpoints of an earlier version are migrated first, so an old run still resumes.
 */
import { z } from 'zod';
import { VisageError } from '../../errors.js';
import type { NetworkDef } from '../../engine/graph/index.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint, type Checkpoint } from '../checkpoint.js';
import type { PKSamplerState } from '../data/index.js';
import type { BinaryPairLossState, ProxySoftmaxState } from '../losses/index.js';
import type { EpochRecord } from '../report/index.js';
import { TrainSettingsSchema } from './settings.js';

/**
 * 2: `rng` (a copy of the seed: every random stream is deriveSeed(seed, stream, position)) dropped, and
 * every setting and `fixedNodes` always present. Version 1 is migrated by `fromV1`.
 */
export const STATE_VERSION = 2;

/** One epoch of training: the loss and mining figures, and the held-out validation when it ran. */
export interface TrainEpoch extends EpochRecord {
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Optimiser steps so far. */
  steps: number;
  /** Binary loss: fraction of the epoch's pairs the head classified correctly. */
  pairAccuracy?: number;
}

/** JSON writes NaN as null: read back as NaN, so that resumed histories compare equal. */
const nanable = z
  .number()
  .nullable()
  .transform((v) => v ?? NaN);
const orNull = z.number().nullable();

// Keys in the order the epoch loop writes them (history.json keeps this order).
const epochSchema: z.ZodType<TrainEpoch, unknown> = z.object({
  epoch: z.number(),
  loss: nanable,
  activeFraction: nanable,
  meanDap: nanable,
  meanDan: nanable,
  pairAccuracy: z.number().optional(),
  valAccuracy: orNull,
  valThreshold: orNull,
  valAuc: orNull,
  valRank1: orNull,
  seconds: z.number(),
  lr: z.number(),
  steps: z.number(),
});

/** The running sums of the epoch in progress. */
const accumSchema = z.object({
  batches: z.number(),
  loss: z.number(),
  triplets: z.number(),
  active: z.number(),
  dap: z.number(),
  dan: z.number(),
  pairs: z.number(),
  pairCorrect: z.number(),
  seconds: z.number(),
});
export type EpochAccum = z.output<typeof accumSchema>;

export const emptyAccum = (): EpochAccum => ({
  batches: 0,
  loss: 0,
  triplets: 0,
  active: 0,
  dap: 0,
  dan: 0,
  pairs: 0,
  pairCorrect: 0,
  seconds: 0,
});

const summarySchema = z.object({ accuracy: nanable, threshold: nanable, auc: nanable, rank1: nanable });

// States that their owners check on restore (the sampler against its data, the losses against their shape).
const object = <T>() => z.custom<T>((v) => typeof v === 'object' && v !== null && !Array.isArray(v));

export const TrainStateSchema = z.object({
  version: z.literal(STATE_VERSION),
  settings: TrainSettingsSchema,
  sampler: object<PKSamplerState>(),
  history: z.array(epochSchema),
  accum: accumSchema,
  lossState: z.object({
    randomMinerCalls: z.number().optional(),
    binary: object<BinaryPairLossState>().optional(),
    softmax: object<ProxySoftmaxState>().optional(),
  }),
  before: summarySchema.nullable(),
  histogramsBefore: z.object({ same: z.array(nanable), different: z.array(nanable) }).nullable(),
  /** The network as trained (no input normalisation; a 0…255 fine-tuned model keeps its bridge). */
  trainingDef: object<NetworkDef>(),
  /** Nodes whose weights never change (the bridge, and --freeze blocks). */
  frozenNodes: z.array(z.string()),
  /** Of those, the ones that never train whatever --freeze says (saved as the model's meta.fixedNodes). */
  fixedNodes: z.array(z.string()),
});
export type TrainState = z.output<typeof TrainStateSchema>;

/**
 * Version 1 → 2. Settings added during version 1 are missing from the checkpoints written before them,
 * and had these values then: the tfjs engine, no parameter averaging, cropped fit, no identity softmax,
 * no flip at validation; `fixedNodes` (likewise) none.
 */
export function fromV1(st: Record<string, unknown>): Record<string, unknown> {
  const { rng: _rng, ...rest } = st;
  void _rng;
  const s = (st.settings ?? {}) as Record<string, unknown>;
  return {
    ...rest,
    version: 2,
    settings: {
      ...s,
      engine: s.engine ?? 'tfjs',
      ema: s.ema ?? 0,
      fit: s.fit ?? 'crop',
      softmax: s.softmax ?? 0,
      valFlip: s.valFlip ?? false,
    },
    fixedNodes: st.fixedNodes ?? [],
  };
}

/** The checkpoint in `dir`, its state migrated to the current version and checked (E_BAD_MODEL if not). */
export function readTrainCheckpoint(dir: string): Checkpoint<TrainState> {
  if (!findCheckpoint(dir))
    throw new VisageError('E_FILE_NOT_FOUND', `nothing to resume: no checkpoint in ${dir}`, { path: dir });
  const cp = readCheckpoint<unknown>(dir);
  let raw = cp.state as Record<string, unknown> | null;
  if (raw?.version === 1) raw = fromV1(raw);
  if (raw?.version !== STATE_VERSION)
    throw new VisageError('E_BAD_MODEL', `unsupported checkpoint version in ${dir}`);
  const r = TrainStateSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new VisageError('E_BAD_MODEL', `bad checkpoint state in ${dir}: ${i.path.join('.')}: ${i.message}`);
  }
  return { ...cp, state: r.data };
}

export function writeTrainCheckpoint(
  dir: string,
  cp: Omit<Checkpoint<TrainState>, 'state'> & { state: Omit<TrainState, 'version'> },
): void {
  writeCheckpoint<TrainState>(dir, { ...cp, state: { version: STATE_VERSION, ...cp.state } });
}
