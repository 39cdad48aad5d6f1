/**
 * A finished run's outputs in `out`: the model (Visage format, input normalisation in front, the averaged
 * weights with --ema, its id a hash of the weights), report.html and history.json.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { saveModel, type NetworkDef, type WeightMap } from '../../engine/graph/index.js';
import { augmentSpec, resolveAugment, type FaceImageSource } from '../data/index.js';
import { BinaryPairLoss, PROXY_SOFTMAX_DEFAULTS, type EmbeddingLoss } from '../losses/index.js';
import { writeTrainingReport, type DistanceSamples, type HeldOutIdentity } from '../report/index.js';
import type { ValidationResult } from '../validate.js';
import type { RunSplit } from './data.js';
import { headJson } from './loss.js';
import { deployableModel } from './network.js';
import { augmentOptions, type TrainSettings } from './settings.js';
import type { TrainEpoch } from './state.js';
import { heldOutErrors, summary, type ValidationSummary } from './validation.js';

export interface FinishedRun {
  out: string;
  s: TrainSettings;
  /** The training network and its final weights (averaged with --ema). */
  def: NetworkDef;
  weights: WeightMap;
  fixedNodes: string[];
  size: number;
  channels: 1 | 3;
  batchesPerEpoch: number;
  loss: EmbeddingLoss;
  split: RunSplit;
  train: FaceImageSource;
  val: FaceImageSource | null;
  history: TrainEpoch[];
  before: ValidationSummary | null;
  histogramsBefore: DistanceSamples | null;
  /** The final validation. */
  lastVal: ValidationResult | null;
}

export function exportRun(r: FinishedRun): {
  model: string;
  modelId: string;
  report: string;
  heldOut: HeldOutIdentity[] | null;
} {
  const { out, s, def, split, train, val, history, before, lastVal } = r;
  const last = history[history.length - 1];
  const trained = deployableModel(def, r.weights);
  const hash = createHash('sha256');
  for (const w of trained.weights.values())
    hash.update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  const modelId = `${def.name}@${hash.digest('hex').slice(0, 12)}`;
  const modelDir = path.join(out, 'model');
  const hyper = hyperParameters(s, r.size, r.channels, r.batchesPerEpoch, split);
  saveModel(modelDir, {
    ...trained,
    meta: {
      id: modelId,
      embeddingOutput: def.outputs[0],
      threshold: last?.valThreshold ?? lastVal?.threshold ?? undefined,
      // The threshold was chosen on flip-averaged embeddings: verify/identify average them too.
      ...(s.valFlip ? { flip: true } : {}),
      inputSize: r.size,
      channels: r.channels,
      normalization: 'visage-training',
      createdAt: new Date().toISOString(),
      validation: summary(lastVal),
      valIdentities: split.val.identities.map((id) => id.name),
      hyperParameters: hyper,
      ...(r.fixedNodes.length ? { fixedNodes: r.fixedNodes } : {}),
      // The binary loss's logistic head, for scoring pairs as it was trained to (verification uses distances).
      ...(r.loss instanceof BinaryPairLoss ? { pairHead: headJson(r.loss) } : {}),
    },
  });
  const heldOut = lastVal && val ? heldOutErrors(lastVal, val.names) : null;
  const report = path.join(out, 'report.html');
  writeTrainingReport(report, {
    title: `Visage training report: ${def.name}`,
    hyperParameters: hyper,
    epochs: history,
    histogramsBefore: r.histogramsBefore ?? undefined,
    histogramsAfter: lastVal ? { same: lastVal.same, different: lastVal.different } : undefined,
    thresholdBefore: before?.threshold,
    heldOut: heldOut ?? undefined,
    notes: [
      `data ${s.data}: ${split.train.identities.length} training identities (${train.count} images), ${split.val.identities.length} validation identities (${val?.count ?? 0} images)`,
      `model ${modelId} saved to ${modelDir}`,
    ],
  });
  fs.writeFileSync(
    path.join(out, 'history.json'),
    JSON.stringify({ settings: s, before, history, heldOut }, null, 2),
  );
  return { model: modelDir, modelId, report, heldOut };
}

/** The run's settings as the report and the model's meta show them. */
function hyperParameters(
  s: TrainSettings,
  size: number,
  channels: number,
  batchesPerEpoch: number,
  split: RunSplit,
): Record<string, string | number | boolean> {
  const augment = augmentOptions(s.augment);
  return {
    encoder: s.encoder === 'finetune' ? `finetune ${s.model} (freeze ${s.freeze})` : 'small-cnn',
    'input size': `${size}×${size}×${channels}`,
    ...(s.encoder === 'small-cnn'
      ? { width: s.width, depth: s.depth, 'embedding dim': s.dim, head: s.head }
      : {}),
    loss: s.loss,
    ...(s.loss === 'triplet'
      ? {
          mining: s.mining,
          margin: s.margin,
          'soft margin': s.softMargin,
          'identity softmax':
            s.softmax > 0
              ? `weight ${s.softmax} (scale ${PROXY_SOFTMAX_DEFAULTS.scale}, margin ${PROXY_SOFTMAX_DEFAULTS.margin})`
              : 'none',
        }
      : {}),
    P: s.P,
    K: s.K,
    optimizer: s.optimizer,
    'learning rate': s.lr,
    ...(s.optimizer === 'sgd' ? { momentum: s.momentum } : {}),
    'weight decay': s.weightDecay,
    'weight averaging': s.ema > 0 ? `EMA, decay ${s.ema}` : 'none',
    schedule: s.schedule,
    augmentation: augment ? augmentSpec(resolveAugment(augment)) : 'none',
    epochs: s.epochs,
    'batches per epoch': batchesPerEpoch,
    seed: s.seed,
    threads: s.threads,
    engine: s.engine,
    detect: s.detect,
    fit: s.fit,
    'validation flip': s.valFlip,
    'train / val identities': `${split.train.identities.length} / ${split.val.identities.length}`,
  };
}
