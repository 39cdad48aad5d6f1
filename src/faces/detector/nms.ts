/** Greedy non-maximum suppression on (ymin, xmin, ymax, xmax) boxes, highest score first. */
export interface ScoredBox {
  /** ymin, xmin, ymax, xmax in any consistent unit. */
  box: [number, number, number, number];
  score: number;
}

export function iou(a: ScoredBox['box'], b: ScoredBox['box']): number {
  const areaA = Math.max(0, a[2] - a[0]) * Math.max(0, a[3] - a[1]);
  const areaB = Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
  if (areaA <= 0 || areaB <= 0) return 0;
  const ih = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iw = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ih * iw;
  return inter / (areaA + areaB - inter);
}

/** Keeps boxes in score order, dropping any whose IoU with a kept box exceeds `iouThreshold`. */
export function nonMaxSuppression<T extends ScoredBox>(
  boxes: T[],
  iouThreshold: number,
  maxOut: number,
): T[] {
  const sorted = [...boxes].sort((p, q) => q.score - p.score);
  const kept: T[] = [];
  for (const c of sorted) {
    if (kept.length >= maxOut) break;
    if (kept.every((k) => iou(k.box, c.box) <= iouThreshold)) kept.push(c);
  }
  return kept;
}
