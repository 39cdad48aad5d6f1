/**
 * Error rates at a fixed threshold τ on squared-L2 distances (accept when d ≤ τ): what a deployment with
 * that τ would see. FAR = accepted different-person pairs / different-person pairs, FRR = rejected
 * same-person pairs / same-person pairs.
 */
export interface ErrorRates {
  threshold: number;
  /** Plain accuracy over all pairs, and the mean of (1 − FAR) and (1 − FRR) (balanced). */
  accuracy: number;
  balancedAccuracy: number;
  far: number;
  frr: number;
  falseAccepts: number;
  falseRejects: number;
  same: number;
  different: number;
}

export function errorRatesAt(
  distances: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  threshold: number,
): ErrorRates {
  let falseAccepts = 0;
  let falseRejects = 0;
  let same = 0;
  for (let i = 0; i < distances.length; i++) {
    const accept = distances[i] <= threshold;
    if (labels[i]) {
      same++;
      if (!accept) falseRejects++;
    } else if (accept) falseAccepts++;
  }
  const different = distances.length - same;
  const far = different ? falseAccepts / different : Number.NaN;
  const frr = same ? falseRejects / same : Number.NaN;
  return {
    threshold,
    accuracy: distances.length ? 1 - (falseAccepts + falseRejects) / distances.length : Number.NaN,
    balancedAccuracy: 1 - (far + frr) / 2,
    far,
    frr,
    falseAccepts,
    falseRejects,
    same,
    different,
  };
}
