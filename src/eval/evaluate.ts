/**
 * The evaluation protocols behind `visage eval pairs`, `visage eval identify` and `visage calibrate`.
 * Scores are squared L2 distances between unit embeddings (smaller = more alike).
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../errors.js';
import { cmc, dirAtFar, type OpenSetResult, type ProbeRanking } from './metrics.js';
import {
  kFoldAccuracy,
  roc,
  summarizeVerification,
  type KFoldResult,
  type VerificationSummary,
} from './metrics.js';
import { loadPairs, missingImages, type ImagePair, type PairList } from './pairs.js';
import { plotDistanceHistograms, plotRoc, savePlot } from './plot.js';
import { scanIdentityFolders } from './scan.js';
import type { CalibrationEntry } from '../faces/calibration.js';
import { calibrationEntry } from './calibrate.js';
import { errorRatesAt, type ErrorRates } from './error-rates.js';
import { imageComponents, imageGroupedFolds, usedFolds } from './folds.js';
import { identityKFoldCalibration, type HeldOutCalibration } from './heldout-calibration.js';
import { defaultCalibration, policyFor } from '../faces/calibration.js';
import { squaredL2 } from '../faces/compare.js';
import { faceApiEmbedFiles } from '../faces/faceapi-peer.js';
import { embedFiles, encoderIdFor, type BatchEmbedOptions, type FileEmbedding } from '../faces/batch.js';

/** What `evaluatePairList` measured: k-fold accuracy (τ chosen on the other folds), ROC AUC, EER, TAR@FAR. */
export interface PairsEvaluation {
  model: string;
  source: string;
  pairs: number;
  folds: number;
  /**
   * Accuracy with the threshold chosen on the other folds (LFW protocol): mean ± std over folds. A list
   * without folds (a CSV of img1,img2,same) is split into 10 folds of image-disjoint pair groups
   * (`foldsFrom: 'image-groups'`), so no image is on both sides; only when that leaves one group is this
   * the in-sample best-threshold accuracy (`foldsFrom: 'in-sample'`).
   */
  accuracy: KFoldResult;
  foldsFrom: 'list' | 'image-groups' | 'in-sample';
  /**
   * What a user gets without choosing τ: the rates at the model's shipped default (for the face-api peer,
   * its documented 0.6 Euclidean, 0.36 squared). Absent for a model without a calibrated default.
   */
  atDefaultThreshold?: ErrorRates & { source: string };
  summary: VerificationSummary;
  /** Images where no face was detected and a centred crop was used. */
  fallbacks: number;
  /** Pairs left out because an image gave no embedding at all. */
  skipped: number;
  images: number;
  plots?: { roc: string; histogram: string };
  /** Raw distances and labels, for further analysis (--json). */
  distances: number[];
  labels: boolean[];
}

function pairScores(list: PairList, emb: Map<string, FileEmbedding>) {
  const distances: number[] = [];
  const labels: boolean[] = [];
  const folds: number[] = [];
  const scored: ImagePair[] = [];
  let skipped = 0;
  for (const p of list.pairs) {
    const a = emb.get(p.a)?.vector;
    const b = emb.get(p.b)?.vector;
    if (!a || !b) {
      skipped++;
      continue;
    }
    distances.push(squaredL2(a, b));
    labels.push(p.same);
    folds.push(p.fold);
    scored.push(p);
  }
  return { distances, labels, folds, scored, skipped };
}

/** face-api's documented default: Euclidean distance 0.6 between raw descriptors, squared here. */
const FACE_API_DEFAULT_THRESHOLD = 0.6 ** 2;

function defaultThresholdFor(
  model: string,
  peer: boolean,
): { threshold: number; source: string } | undefined {
  if (peer) return { threshold: FACE_API_DEFAULT_THRESHOLD, source: "face-api's default 0.6 (Euclidean)" };
  const cal = defaultCalibration();
  const entry = cal?.policies[model];
  if (entry) return { threshold: entry.threshold, source: `calibration of ${model}` };
  try {
    return { threshold: policyFor(model).threshold, source: `built-in default of ${model}` };
  } catch {
    return undefined;
  }
}

/** LFW protocol on a pair list (from loadPairs: LFW pairs.txt or CSV img1,img2,same). */
export async function evaluatePairList(
  list: PairList,
  opts: BatchEmbedOptions & { plots?: string; peer?: 'face-api' },
): Promise<PairsEvaluation> {
  const missing = missingImages(list);
  if (missing.length > 0) {
    throw new VisageError(
      'E_FILE_NOT_FOUND',
      `${missing.length} image(s) of the pair list are missing, e.g. ${missing[0]}`,
      {
        missing,
      },
    );
  }
  const files = list.pairs.flatMap((p) => [p.a, p.b]);
  const emb =
    opts.peer === 'face-api'
      ? await faceApiEmbedFiles(files, {
          grey: opts.grey,
          faceRule: opts.faceRule,
          cache: opts.cache !== false,
          onProgress: opts.onProgress,
        })
      : await embedFiles(files, { ...opts, fallback: opts.fallback ?? true });
  const { distances, labels, folds, scored, skipped } = pairScores(list, emb);
  if (distances.length === 0) throw new VisageError('E_BAD_DATASET', 'no pair could be scored');
  let foldsFrom: PairsEvaluation['foldsFrom'] = 'list';
  let foldIds = folds;
  if (list.folds <= 1) {
    foldIds = imageGroupedFolds(scored, 10);
    foldsFrom = usedFolds(foldIds) > 1 ? 'image-groups' : 'in-sample';
  }
  const accuracy =
    foldsFrom !== 'in-sample'
      ? kFoldAccuracy(distances, labels, foldIds)
      : (() => {
          // One group: no held-out threshold is possible; report the best-threshold accuracy and say so.
          const s = summarizeVerification(distances, labels);
          return { mean: s.bestAccuracy.accuracy, std: 0, stderr: 0, folds: [] } as KFoldResult;
        })();
  const summary = summarizeVerification(distances, labels, { fars: [1e-3, 1e-2, 1e-1] });
  const modelId = encoderIdFor(opts.model);
  const dflt = defaultThresholdFor(modelId, opts.peer === 'face-api');
  const result: PairsEvaluation = {
    model:
      opts.peer === 'face-api' ? 'face-api (peer: its own detection and crop, raw descriptors)' : modelId,
    source: list.source,
    pairs: distances.length,
    folds: foldsFrom === 'list' ? list.folds : usedFolds(foldIds),
    accuracy,
    foldsFrom,
    atDefaultThreshold: dflt
      ? { ...errorRatesAt(distances, labels, dflt.threshold), source: dflt.source }
      : undefined,
    summary,
    fallbacks: [...emb.values()].filter((e) => e.fallback).length,
    skipped,
    images: emb.size,
    distances,
    labels,
  };
  if (opts.plots) {
    fs.mkdirSync(opts.plots, { recursive: true });
    const rocFile = path.join(opts.plots, 'roc.png');
    const histFile = path.join(opts.plots, 'distances.png');
    await savePlot(
      rocFile,
      plotRoc([{ label: result.model, roc: roc(distances, labels) }], { title: 'ROC (log FAR)' }),
    );
    const same = distances.filter((_, i) => labels[i]);
    const diff = distances.filter((_, i) => !labels[i]);
    await savePlot(
      histFile,
      plotDistanceHistograms(same, diff, { threshold: summary.bestAccuracy.threshold }),
    );
    result.plots = { roc: rocFile, histogram: histFile };
  }
  return result;
}

/** What `evaluateIdentify` measured: one-shot rank-1 / rank-5 and the open-set DIR at a target FAR. */
export interface IdentifyEvaluation {
  model: string;
  root: string;
  identities: number;
  enrolled: number;
  probes: number;
  /** cmc[k-1] = fraction of probes whose identity is ranked ≤ k (closed set, one-shot gallery). */
  rank1: number;
  rank5: number;
  cmc: number[];
  /** Open set: a share of identities is left out of the gallery, their probes must come back unknown. */
  openSet: OpenSetResult & { targetFar: number; heldOutIdentities: number };
  fallbacks: number;
}

/**
 * One-shot identification: the first image (natural order) of each identity is enrolled, every other image
 * is a probe. For the open-set figure, every `openSetEvery`-th identity is not enrolled: its probes are
 * impostors, and DIR is read at the threshold that gives the target false-alarm rate.
 */
export async function evaluateIdentify(
  root: string,
  opts: BatchEmbedOptions & { targetFar?: number; openSetEvery?: number },
): Promise<IdentifyEvaluation> {
  const ds = scanIdentityFolders(root);
  const ids = ds.identities.filter((i) => i.files.length >= 2);
  if (ids.length < 2)
    throw new VisageError('E_BAD_DATASET', `${root}: need at least 2 identities with 2+ images`);
  const emb = await embedFiles(
    ids.flatMap((i) => i.files),
    { ...opts, fallback: opts.fallback ?? true },
  );
  const vec = (f: string) => emb.get(f)?.vector ?? null;
  const every = opts.openSetEvery ?? 4;
  const gallery = (heldOut: (i: number) => boolean) =>
    ids.flatMap((id, i) =>
      heldOut(i) || !vec(id.files[0]) ? [] : [{ name: id.name, v: vec(id.files[0])! }],
    );
  const rank = (
    g: Array<{ name: string; v: Float32Array }>,
    truth: (name: string) => string | null,
  ): ProbeRanking[] =>
    ids.flatMap((id) =>
      id.files.slice(1).flatMap((f) => {
        const v = vec(f);
        if (!v) return [];
        return [
          { truth: truth(id.name), ranked: g.map((e) => ({ id: e.name, distance: squaredL2(v, e.v) })) },
        ];
      }),
    );
  const closed = rank(
    gallery(() => false),
    (n) => n,
  );
  const curve = cmc(closed, Math.min(10, ids.length));
  const heldOutNames = new Set(ids.filter((_, i) => i % every === every - 1).map((i) => i.name));
  const open = rank(
    gallery((i) => heldOutNames.has(ids[i].name)),
    (n) => (heldOutNames.has(n) ? null : n),
  );
  const targetFar = opts.targetFar ?? 0.01;
  return {
    model: encoderIdFor(opts.model),
    root,
    identities: ids.length,
    enrolled: ids.length,
    probes: closed.length,
    rank1: curve[0],
    rank5: curve[Math.min(4, curve.length - 1)],
    cmc: curve,
    openSet: { ...dirAtFar(open, targetFar), targetFar, heldOutIdentities: heldOutNames.size },
    fallbacks: [...emb.values()].filter((e) => e.fallback).length,
  };
}

/** Every same-person and every different-person pair of a folder of identity folders (small sets). */
export function allPairs(root: string, opts: { maxImages?: number } = {}): ImagePair[] {
  const ids = scanIdentityFolders(root, { maxImages: opts.maxImages }).identities;
  const files = ids.flatMap((id) => id.files.map((f) => ({ id: id.name, f })));
  const pairs: ImagePair[] = [];
  for (let i = 0; i < files.length; i++) {
    for (let j = i + 1; j < files.length; j++) {
      pairs.push({
        a: files[i].f,
        b: files[j].f,
        same: files[i].id === files[j].id,
        fold: 0,
        line: 0,
        idA: files[i].id,
        idB: files[j].id,
      });
    }
  }
  return pairs;
}

/** Held-out error rates of a calibration, and what its folds are made of. */
export type HeldOutResult = HeldOutCalibration & { groupedBy: 'identity' | 'image-groups' };

/**
 * Pick τ on a labelled set: a pairs file, or every pair of one or more folders of identity folders. The
 * criterion is a target false-accept rate (default 1e-3) or best accuracy; a logistic confidence is fitted.
 */
export async function calibrateThreshold(
  source: { pairs: string; root?: string } | { roots: string[] },
  opts: BatchEmbedOptions & {
    far?: number | 'best-accuracy';
    dataset?: string;
    heldOutFolds?: number;
    /** With roots: only the first N photos of each person. */
    perIdentity?: number;
  },
): Promise<{ model: string; entry: CalibrationEntry; pairs: number; heldOut?: HeldOutResult }> {
  // Pairs drawn from several identity-folder sets are pooled (same-person pairs never cross sets).
  const list =
    'pairs' in source
      ? loadPairs(source.pairs, { root: source.root })
      : {
          format: 'generated' as const,
          folds: 1,
          source: source.roots.join(','),
          // Identities are named per set, so that two sets' "s1" folders stay two people.
          pairs: source.roots.flatMap((r) =>
            allPairs(r, { maxImages: opts.perIdentity }).map((p) => ({
              ...p,
              idA: `${r}:${p.idA}`,
              idB: `${r}:${p.idB}`,
            })),
          ),
        };
  const emb = await embedFiles(
    list.pairs.flatMap((p) => [p.a, p.b]),
    { ...opts, fallback: opts.fallback ?? true },
  );
  const { distances, labels, scored } = pairScores(list, emb);
  const far = opts.far ?? 1e-3;
  const criterion = far === 'best-accuracy' ? ('best-accuracy' as const) : { far };
  const entry = calibrationEntry(distances, labels, {
    dataset:
      opts.dataset ??
      ('pairs' in source ? source.pairs : source.roots.map((r) => path.basename(r)).join(' + ')),
    criterion,
  });
  // The same criterion on people τ was not chosen on. A pairs file without identity names is grouped
  // by shared images instead (each group then stands for a person).
  const byIdentity = scored.every((p) => p.idA && p.idB);
  const comp = byIdentity ? [] : imageComponents(scored);
  const ids = {
    a: scored.map((p, i) => (byIdentity ? p.idA! : `g${comp[i]}`)),
    b: scored.map((p, i) => (byIdentity ? p.idB! : `g${comp[i]}`)),
  };
  let heldOut: HeldOutResult | undefined;
  const people = new Set([...ids.a, ...ids.b]).size;
  if (people >= 2 * (opts.heldOutFolds ?? 5)) {
    heldOut = {
      groupedBy: byIdentity ? 'identity' : 'image-groups',
      ...identityKFoldCalibration(distances, labels, ids, { k: opts.heldOutFolds ?? 5, criterion }),
    };
    entry.calibratedOn!.heldOut = {
      folds: heldOut.folds.length,
      far: heldOut.pooled.far,
      frr: heldOut.pooled.frr,
      people,
    };
  }
  return { model: encoderIdFor(opts.model), entry, pairs: distances.length, heldOut };
}
