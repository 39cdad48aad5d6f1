/**
 * The PK sampler: every batch holds P distinct identities × K images each, the batch layout that online
 * triplet mining needs (every anchor has K−1 positives and (P−1)·K negatives in its own batch).
 *
 * Epochs. An epoch is a fixed number of batches, `epochLength`:
 * - 'identities' (default): ceil(n / P) batches, so every identity appears at least once per epoch (the
 *   last batch is topped up with identities drawn from the next shuffle, so a few appear twice);
 * - 'images': ceil(total images / (P·K)) batches, so on average every image is seen about once;
 * - a number: exactly that many batches.
 * Identities are drawn from a stream of seeded shuffles of all identities and images from a per-identity
 * stream of shuffles of its images, so within an epoch usage is as even as the batch shape allows.
 *
 * Few images. An identity with at least K images gives K distinct ones. One with fewer (c < K) gives all c
 * once and fills the other K − c slots by drawing its images again with replacement; those slots are flagged
 * in `repeated`. With augmentation on, repeats are different views of the photo (a legitimate, if easy,
 * positive); without it they are exact duplicates, whose anchor–positive distance is 0 and whose triplets
 * reduce to "push every negative beyond the margin". An identity with a single image therefore still
 * serves as a negative for everyone else, which is its real value: it adds a person to tell apart. Pass
 * `minImages: 2` to leave such identities out of sampling entirely (labels keep their original indices).
 *
 * Reproducibility. Batch i is a pure function of (seed, identity sizes, P, K, epoch length, i): each epoch's
 * plan is generated from its own seed derived from (seed, epoch), so `state()` is only a position plus the parameters it
 * must be restored with, and `restore()` resumes exactly the same sequence (checked against a fingerprint
 * of the identities, so a changed dataset is refused instead of silently giving different batches).
 */
import { VisageError } from '../../errors.js';
import { checkSeed, deriveSeed, Rng, STREAM } from './rng.js';

export type EpochLength = 'identities' | 'images' | number;

export interface PKSamplerOptions {
  /** Identities per batch, ≥ 2 and ≤ the number of (eligible) identities. */
  P: number;
  /** Images per identity in a batch, ≥ 2. */
  K: number;
  /** Default 0. */
  seed?: number;
  /** Default 'identities'. */
  epochLength?: EpochLength;
  /** Identities with fewer images are never sampled. Default 1 (everyone; see above for small ones). */
  minImages?: number;
}

/** What the sampler needs of an identity: its image count (and a name for the resume fingerprint). */
export type SamplerIdentity = { name?: string; files: readonly unknown[] } | number;

export interface PKBatch {
  epoch: number;
  /** Position within the epoch, 0 … batchesPerEpoch − 1. */
  batch: number;
  /** Global batch number, epoch · batchesPerEpoch + batch (use it to seed augmentation). */
  index: number;
  /** P·K identity indices (into the constructor's list): K consecutive slots per identity. */
  labels: Int32Array;
  /** Image index within that identity, per slot. */
  images: Int32Array;
  /** 1 where the slot repeats an image already used in this batch (identity with fewer than K images). */
  repeated: Uint8Array;
}

export interface PKSamplerState {
  version: 1;
  seed: number;
  P: number;
  K: number;
  batchesPerEpoch: number;
  minImages: number;
  /** Hash of the identity names and image counts. */
  fingerprint: string;
  /** The next batch that next() will return. */
  epoch: number;
  batch: number;
}

/** FNV-1a over the identity names and sizes, as 8 hex digits. */
function fingerprintOf(names: readonly string[], counts: readonly number[]): string {
  let h = 0x811c9dc5;
  const text = names.map((name, i) => `${name}:${counts[i]}\n`).join('');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** An endless stream of shuffles of `values`, from which chunks of distinct values are taken. */
class ShuffleStream {
  private buffer: number[] = [];

  constructor(
    private readonly values: Int32Array,
    private readonly rng: Rng,
  ) {}

  /**
   * `size` distinct values (size ≤ values.length). Takes them in stream order, skipping (and keeping for the
   * next chunk) any value already in this chunk, which can only happen across a shuffle boundary.
   */
  take(size: number, out: Int32Array, offset: number): void {
    let got = 0;
    let from = 0;
    while (got < size) {
      if (from >= this.buffer.length) {
        const perm = this.rng.permutation(this.values.length);
        for (let i = 0; i < perm.length; i++) this.buffer.push(this.values[perm[i]]);
      }
      const v = this.buffer[from];
      let dup = false;
      for (let j = 0; j < got; j++) if (out[offset + j] === v) dup = true;
      if (dup) {
        from++;
        continue;
      }
      out[offset + got++] = v;
      this.buffer.splice(from, 1);
    }
  }
}

interface EpochPlan {
  epoch: number;
  labels: Int32Array;
  images: Int32Array;
  repeated: Uint8Array;
}

export class PKSampler {
  readonly P: number;
  readonly K: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly minImages: number;
  /** Image count per identity (constructor order). */
  readonly counts: readonly number[];
  /** Indices of the identities that are sampled (count ≥ minImages). */
  readonly eligible: Int32Array;
  private readonly fingerprint: string;
  private position = 0;
  private plan: EpochPlan | undefined;

  constructor(identities: readonly SamplerIdentity[], opts: PKSamplerOptions) {
    const { P, K } = opts;
    this.seed = opts.seed ?? 0;
    checkSeed(this.seed);
    this.minImages = opts.minImages ?? 1;
    if (!Number.isInteger(this.minImages) || this.minImages < 1) {
      throw new VisageError('E_BAD_OPTION', `minImages must be a positive integer, got ${this.minImages}`);
    }
    this.counts = identities.map((id) => (typeof id === 'number' ? id : id.files.length));
    const names = identities.map((id, i) => (typeof id === 'number' ? `#${i}` : (id.name ?? `#${i}`)));
    this.counts.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0) {
        throw new VisageError('E_BAD_DATASET', `identity ${names[i]} has an invalid image count ${c}`);
      }
    });
    this.eligible = Int32Array.from(this.counts.flatMap((c, i) => (c >= this.minImages && c > 0 ? [i] : [])));
    if (!Number.isInteger(P) || P < 2) {
      throw new VisageError('E_BAD_OPTION', `P (identities per batch) must be an integer ≥ 2, got ${P}`);
    }
    if (!Number.isInteger(K) || K < 2) {
      throw new VisageError('E_BAD_OPTION', `K (images per identity) must be an integer ≥ 2, got ${K}`);
    }
    if (P > this.eligible.length) {
      throw new VisageError(
        'E_BAD_OPTION',
        `P = ${P} identities per batch, but only ${this.eligible.length} identities have ≥ ${this.minImages} image(s)`,
        { P, identities: this.eligible.length },
      );
    }
    this.P = P;
    this.K = K;
    this.batchSize = P * K;
    const len = opts.epochLength ?? 'identities';
    if (len === 'identities') this.batchesPerEpoch = Math.ceil(this.eligible.length / P);
    else if (len === 'images') {
      let total = 0;
      for (const i of this.eligible) total += this.counts[i];
      this.batchesPerEpoch = Math.ceil(total / this.batchSize);
    } else if (Number.isInteger(len) && len >= 1) this.batchesPerEpoch = len;
    else {
      throw new VisageError(
        'E_BAD_OPTION',
        `epochLength must be 'identities', 'images' or a positive integer, got ${String(len)}`,
      );
    }
    this.fingerprint = fingerprintOf(names, this.counts);
  }

  /** Epoch and position of the batch next() returns. */
  get epoch(): number {
    return Math.floor(this.position / this.batchesPerEpoch);
  }
  get batchInEpoch(): number {
    return this.position % this.batchesPerEpoch;
  }
  /** Global number of the batch next() returns. */
  get index(): number {
    return this.position;
  }

  /** The next batch; advances the position. */
  next(): PKBatch {
    return this.batchAt(this.position++);
  }

  /** Batch number `index` (global) without moving the position. */
  batchAt(index: number): PKBatch {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new VisageError('E_BAD_OPTION', `batch index must be a non-negative integer, got ${index}`);
    }
    const epoch = Math.floor(index / this.batchesPerEpoch);
    const batch = index % this.batchesPerEpoch;
    if (this.plan?.epoch !== epoch) this.plan = this.planEpoch(epoch);
    const from = batch * this.batchSize;
    const to = from + this.batchSize;
    return {
      epoch,
      batch,
      index,
      labels: this.plan.labels.slice(from, to),
      images: this.plan.images.slice(from, to),
      repeated: this.plan.repeated.slice(from, to),
    };
  }

  /** Everything needed to continue this exact sequence (JSON-safe). */
  state(): PKSamplerState {
    return {
      version: 1,
      seed: this.seed,
      P: this.P,
      K: this.K,
      batchesPerEpoch: this.batchesPerEpoch,
      minImages: this.minImages,
      fingerprint: this.fingerprint,
      epoch: this.epoch,
      batch: this.batchInEpoch,
    };
  }

  /**
   * Continues from a saved state. The sampler must have been built with the same identities and options;
   * anything else throws E_BAD_OPTION naming what differs (resuming would not replay the same batches).
   */
  restore(state: PKSamplerState): void {
    if (!state || state.version !== 1) {
      throw new VisageError('E_BAD_OPTION', 'unrecognised PK sampler state (expected version 1)');
    }
    const mine = this.state();
    const keys = ['seed', 'P', 'K', 'batchesPerEpoch', 'minImages', 'fingerprint'] as const;
    const diff = keys.filter((k) => state[k] !== mine[k]);
    if (diff.length > 0) {
      throw new VisageError(
        'E_BAD_OPTION',
        `cannot resume: the saved sampler differs in ${diff
          .map(
            (k) =>
              `${k === 'fingerprint' ? 'dataset (identities or image counts)' : k} (saved ${state[k]}, now ${mine[k]})`,
          )
          .join(', ')}`,
        { differs: diff },
      );
    }
    const { epoch, batch } = state;
    if (
      !Number.isSafeInteger(epoch) ||
      epoch < 0 ||
      !Number.isInteger(batch) ||
      batch < 0 ||
      batch >= this.batchesPerEpoch
    ) {
      throw new VisageError('E_BAD_OPTION', `invalid sampler position epoch ${epoch}, batch ${batch}`);
    }
    this.position = epoch * this.batchesPerEpoch + batch;
  }

  private planEpoch(epoch: number): EpochPlan {
    const rng = new Rng(deriveSeed(this.seed, STREAM.sampler, epoch));
    const { P, K, batchesPerEpoch: B } = this;
    const n = B * this.batchSize;
    const labels = new Int32Array(n);
    const images = new Int32Array(n);
    const repeated = new Uint8Array(n);
    const idStream = new ShuffleStream(this.eligible, rng);
    const imageStreams = new Map<number, ShuffleStream>();
    const chosen = new Int32Array(P);
    for (let b = 0; b < B; b++) {
      idStream.take(P, chosen, 0);
      for (let p = 0; p < P; p++) {
        const id = chosen[p];
        const count = this.counts[id];
        const at = (b * P + p) * K;
        labels.fill(id, at, at + K);
        let stream = imageStreams.get(id);
        if (!stream) {
          stream = new ShuffleStream(
            Int32Array.from({ length: count }, (_, i) => i),
            rng,
          );
          imageStreams.set(id, stream);
        }
        const distinct = Math.min(K, count);
        stream.take(distinct, images, at);
        for (let k = distinct; k < K; k++) {
          images[at + k] = rng.int(count);
          repeated[at + k] = 1;
        }
      }
    }
    return { epoch, labels, images, repeated };
  }
}
