/**
 * Train/validation split BY IDENTITY: validation people are never seen in training, which is what
 * verification of strangers (and one-shot identification) measures.
 */
import { VisageError } from '../../errors.js';
import { checkSeed, deriveSeed, Rng, STREAM } from './rng.js';
import type { IdentityDataset } from '../../eval/scan.js';

export interface SplitOptions {
  /**
   * A count: that many identities chosen by a seeded shuffle. For one seed the choices are nested (the 10
   * picked for N = 10 are among the 12 picked for N = 12). 0 = no validation set.
   * A list of names: exactly those identities (the seed is not used).
   */
  valIdentities: number | readonly string[];
  /** Run seed; default 0. */
  seed?: number;
}

export interface DatasetSplit {
  train: IdentityDataset;
  val: IdentityDataset;
}

/** Fewest identities each side may have: triplets and same/different pairs need two people. */
const MIN_SIDE = 2;

/**
 * Splits `dataset` into disjoint train and validation identities. Both halves keep the dataset's (natural)
 * order and share its root. Throws E_BAD_OPTION for a malformed count or list (unknown or repeated names),
 * and when either side would end up with fewer than 2 identities (an empty validation set is allowed).
 */
export function splitByIdentity(dataset: IdentityDataset, opts: SplitOptions): DatasetSplit {
  const ids = dataset.identities;
  const n = ids.length;
  const seed = opts.seed ?? 0;
  checkSeed(seed);
  const inVal = new Uint8Array(n);
  const v = opts.valIdentities;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) {
      throw new VisageError(
        'E_BAD_OPTION',
        `the number of validation identities must be an integer ≥ 0, got ${v}`,
      );
    }
    checkSides(v, n);
    // The split has its own derived stream, so it does not move when the sampling code changes.
    const order = new Rng(deriveSeed(seed, STREAM.split)).permutation(n);
    for (let i = 0; i < v; i++) inVal[order[i]] = 1;
  } else {
    const index = new Map(ids.map((id, i) => [id.name, i]));
    const unknown = v.filter((name) => !index.has(name));
    if (unknown.length > 0) {
      throw new VisageError(
        'E_BAD_OPTION',
        `unknown validation identit${unknown.length === 1 ? 'y' : 'ies'}: ${unknown.join(', ')} (the dataset has ${ids
          .slice(0, 5)
          .map((id) => id.name)
          .join(', ')}${n > 5 ? ', …' : ''})`,
        { unknown },
      );
    }
    const repeated = v.filter((name, i) => v.indexOf(name) !== i);
    if (repeated.length > 0) {
      throw new VisageError(
        'E_BAD_OPTION',
        `validation identities listed twice: ${[...new Set(repeated)].join(', ')}`,
      );
    }
    checkSides(v.length, n);
    for (const name of v) inVal[index.get(name)!] = 1;
  }
  const pick = (flag: number) =>
    ids.filter((_, i) => inVal[i] === flag).map((id) => ({ ...id, files: [...id.files] }));
  return {
    train: { root: dataset.root, identities: pick(0), skipped: [...dataset.skipped] },
    val: { root: dataset.root, identities: pick(1), skipped: [...dataset.skipped] },
  };
}

function checkSides(val: number, n: number): void {
  if (val !== 0 && val < MIN_SIDE) {
    throw new VisageError(
      'E_BAD_OPTION',
      `${val} validation identity is too few: pair accuracy needs at least ${MIN_SIDE} (or 0 for no validation)`,
    );
  }
  if (n - val < MIN_SIDE) {
    throw new VisageError(
      'E_BAD_OPTION',
      `${val} validation identities out of ${n} leave ${n - val} for training; at least ${MIN_SIDE} are needed`,
      { identities: n, val },
    );
  }
}
