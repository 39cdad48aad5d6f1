/**
 * Calibration from labelled pairs: τ by a criterion, the confidence model by logistic fit, and the
 * figures recorded beside them. The file format and its use at verification time stay in
 * faces/calibration.ts.
 */
import { VisageError } from '../errors.js';
import type { CalibrationEntry } from '../faces/calibration.js';
import { fitConfidence } from '../faces/compare.js';
import { bestAccuracy, eer, roc, rocAuc, tarAtFar } from './metrics.js';

export interface CalibrateOptions {
  /** Name of the labelled data (recorded in the file). */
  dataset: string;
  /**
   * How τ is chosen: 'best-accuracy' (default; the LFW convention) or { far } for the strictest threshold
   * whose false-accept rate on these pairs is ≤ far (for deployments that fix the FAR).
   */
  criterion?: 'best-accuracy' | { far: number };
}

/**
 * τ by a criterion on labelled distances: the best-accuracy cut, or the loosest τ whose false-accept
 * rate on these pairs stays ≤ far. E_BAD_INPUT when no finite threshold meets it.
 */
export function chooseThreshold(
  distances: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  criterion: CalibrateOptions['criterion'] = 'best-accuracy',
): { threshold: number; name: string } {
  const threshold =
    criterion === 'best-accuracy'
      ? bestAccuracy(distances, labels).threshold
      : tarAtFar(roc(distances, labels), criterion.far).threshold;
  const name = criterion === 'best-accuracy' ? 'best-accuracy' : `far<=${criterion.far}`;
  if (!Number.isFinite(threshold))
    throw new VisageError('E_BAD_INPUT', `no finite threshold meets criterion ${name} on these pairs`);
  return { threshold, name };
}

/**
 * A calibration entry from labelled same/different distances (squared L2): τ by the criterion, the
 * confidence model by logistic fit, and AUC / EER / accuracy for the record.
 */
export function calibrationEntry(
  distances: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  opts: CalibrateOptions,
): CalibrationEntry {
  const curve = roc(distances, labels);
  const best = bestAccuracy(distances, labels);
  const { threshold, name: criterionName } = chooseThreshold(distances, labels, opts.criterion);
  const fit = fitConfidence(distances, labels, { balanced: true });
  const entry: CalibrationEntry = {
    metric: 'squared-l2',
    threshold: Math.min(4, Math.max(0, threshold)),
    calibratedOn: {
      dataset: opts.dataset,
      pairs: distances.length,
      date: new Date().toISOString(),
      criterion: criterionName,
      accuracy: best.accuracy,
      eer: eer(curve).eer,
      auc: rocAuc(curve),
    },
  };
  // A degenerate fit (a ≥ 0: distances carry no signal) is left out rather than stored as a lie.
  if (fit.a < 0) entry.confidence = { a: fit.a, b: fit.b };
  return entry;
}
