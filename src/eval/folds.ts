/**
 * Folds for pair lists that come without them (a CSV of img1,img2,same). A threshold chosen on some folds
 * and tested on another is only held out if no image, and so no face, is on both sides: pairs are
 * grouped into connected components over their images (union-find) and whole components are dealt to
 * the folds, the largest first, each to the fold with the fewest pairs so far.
 */
import type { ImagePair } from './pairs.js';

/** The connected component of each pair over shared images: pairs with one image in common share one. */
export function imageComponents(pairs: readonly ImagePair[]): number[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    // Path compression keeps this near-linear on long chains of shared images.
    let c = x;
    while (c !== r) {
      const next = parent.get(c)!;
      parent.set(c, r);
      c = next;
    }
    return r;
  };
  for (const p of pairs) {
    if (!parent.has(p.a)) parent.set(p.a, p.a);
    if (!parent.has(p.b)) parent.set(p.b, p.b);
    const ra = find(p.a);
    const rb = find(p.b);
    if (ra !== rb) parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  }
  const ids = new Map<string, number>();
  return pairs.map((p) => {
    const r = find(p.a);
    let id = ids.get(r);
    if (id === undefined) ids.set(r, (id = ids.size));
    return id;
  });
}

export function imageGroupedFolds(pairs: readonly ImagePair[], k: number): number[] {
  const components = new Map<number, number[]>();
  imageComponents(pairs).forEach((c, i) => {
    const list = components.get(c);
    if (list) list.push(i);
    else components.set(c, [i]);
  });
  // Largest first, ties by first appearance, so the split is deterministic and balanced.
  const ordered = [...components.entries()].sort((x, y) => y[1].length - x[1].length || x[0] - y[0]);
  const folds = new Array<number>(pairs.length).fill(0);
  const sizes = new Array<number>(k).fill(0);
  for (const [, members] of ordered) {
    let f = 0;
    for (let j = 1; j < k; j++) if (sizes[j] < sizes[f]) f = j;
    for (const i of members) folds[i] = f;
    sizes[f] += members.length;
  }
  return folds;
}

/** How many folds actually hold pairs (one component can leave folds empty). */
export function usedFolds(folds: readonly number[]): number {
  return new Set(folds).size;
}
