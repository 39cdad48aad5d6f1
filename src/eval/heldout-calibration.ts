/**
 * How a calibrated τ does on people it was not chosen on: k-fold over identities. Each identity is
 * dealt to one fold (seeded shuffle); for fold f, τ is chosen by the criterion on the pairs of the other
 * folds' people only, and FAR / FRR are counted on the pairs whose two people are both in fold f. Pairs
 * across folds are used by neither side, so no person is ever on both sides of a test.
 */
import { VisageError } from '../errors.js';
import { Rng } from '../util/random.js';
import { chooseThreshold, type CalibrateOptions } from './calibrate.js';
import { errorRatesAt, type ErrorRates } from './error-rates.js';

export interface HeldOutFold {
  fold: number;
  identities: number;
  /** τ chosen on the other folds. */
  threshold: number;
  rates: ErrorRates;
}

export interface HeldOutCalibration {
  folds: HeldOutFold[];
  /** Counts summed over the folds: every held-out pair once. */
  pooled: { far: number; frr: number; accuracy: number; same: number; different: number };
  /** Spread of the per-fold τ (how much τ moves when the people change). */
  threshold: { mean: number; std: number };
}

export function identityKFoldCalibration(
  distances: ArrayLike<number>,
  labels: ArrayLike<boolean>,
  identities: { a: readonly string[]; b: readonly string[] },
  opts: { k?: number; seed?: number; criterion?: CalibrateOptions['criterion'] } = {},
): HeldOutCalibration {
  const k = opts.k ?? 5;
  const names = [...new Set([...identities.a, ...identities.b])].sort();
  if (names.length < 2 * k)
    throw new VisageError(
      'E_BAD_DATASET',
      `held-out calibration over ${k} folds needs at least ${2 * k} people`,
    );
  const rng = new Rng(opts.seed ?? 1);
  const order = names.map((n) => ({ n, r: rng.next() })).sort((x, y) => x.r - y.r);
  const foldOf = new Map(order.map((o, i) => [o.n, i % k]));
  const out: HeldOutFold[] = [];
  for (let f = 0; f < k; f++) {
    const trainD: number[] = [];
    const trainL: boolean[] = [];
    const testD: number[] = [];
    const testL: boolean[] = [];
    for (let i = 0; i < distances.length; i++) {
      const fa = foldOf.get(identities.a[i]);
      const fb = foldOf.get(identities.b[i]);
      if (fa !== f && fb !== f) {
        trainD.push(distances[i]);
        trainL.push(labels[i]);
      } else if (fa === f && fb === f) {
        testD.push(distances[i]);
        testL.push(labels[i]);
      }
    }
    const { threshold } = chooseThreshold(trainD, trainL, opts.criterion);
    out.push({
      fold: f,
      identities: order.filter((_, i) => i % k === f).length,
      threshold,
      rates: errorRatesAt(testD, testL, threshold),
    });
  }
  const sum = (g: (r: ErrorRates) => number) => out.reduce((a, x) => a + g(x.rates), 0);
  const same = sum((r) => r.same);
  const different = sum((r) => r.different);
  const fa = sum((r) => r.falseAccepts);
  const fr = sum((r) => r.falseRejects);
  const ts = out.map((x) => x.threshold);
  const mean = ts.reduce((a, t) => a + t, 0) / ts.length;
  const std = Math.sqrt(ts.reduce((a, t) => a + (t - mean) ** 2, 0) / Math.max(1, ts.length - 1));
  return {
    folds: out,
    pooled: {
      far: fa / different,
      frr: fr / same,
      accuracy: 1 - (fa + fr) / (same + different),
      same,
      different,
    },
    threshold: { mean, std },
  };
}
