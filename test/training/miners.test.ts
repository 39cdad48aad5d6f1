import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unitRows } from '../helpers/vectors.js';
import { squaredEuclidean } from '../../src/training/distances/index.js';
import { TripletMarginLoss, type TripletLossOptions } from '../../src/training/losses/index.js';
import {
  batchAllMiner,
  batchHardMiner,
  minerByName,
  randomMiner,
  semiHardMiner,
  tripletOptionsFor,
  type Miner,
  type Triplets,
} from '../../src/training/miners/index.js';

// Four identities × three images, plus a singleton (it anchors no triplet but serves as a negative).
const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4];
const dim = 8;

// ---- Slow brute-force reference, independent of the library: plain arrays, every triplet enumerated. ----

type Trip = { a: number; p: number; n: number; dap: number; dan: number };

function rowsOf(emb: Float32Array, d = dim): number[][] {
  return Array.from({ length: emb.length / d }, (_, i) => [...emb.subarray(i * d, (i + 1) * d)]);
}
const sq = (a: number[], b: number[]) => a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);

/** Every valid triplet: label(a) = label(p) ≠ label(n), a ≠ p. */
function everyTriplet(emb: Float32Array, labs: number[], d = dim): Trip[] {
  const rows = rowsOf(emb, d);
  const out: Trip[] = [];
  for (let a = 0; a < labs.length; a++)
    for (let p = 0; p < labs.length; p++)
      for (let n = 0; n < labs.length; n++)
        if (a !== p && labs[a] === labs[p] && labs[n] !== labs[a])
          out.push({ a, p, n, dap: sq(rows[a], rows[p]), dan: sq(rows[a], rows[n]) });
  return out;
}

function groupBy<T>(xs: T[], key: (x: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return [...m.values()];
}
const mean = (xs: number[]) => (xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : 0);
const softplus = (x: number) => Math.log(1 + Math.exp(x));

/** Per-triplet term (hinge or soft margin) of a (dap, dan) pair. */
const term = (dap: number, dan: number, margin: number, soft: boolean) =>
  soft ? softplus(dap - dan) : Math.max(0, dap - dan + margin);

/** Reference losses of every strategy, from the enumerated triplets only. */
function refLoss(
  strategy: 'hard' | 'all' | 'semi-hard',
  emb: Float32Array,
  margin: number,
  soft = false,
  labs = labels,
): number {
  const all = everyTriplet(emb, labs);
  if (strategy === 'all') {
    const terms = all.map((t) => term(t.dap, t.dan, margin, soft)).filter((v) => v > 0);
    return mean(terms);
  }
  if (strategy === 'hard') {
    const perAnchor = groupBy(all, (t) => `${t.a}`).map((ts) =>
      term(Math.max(...ts.map((t) => t.dap)), Math.min(...ts.map((t) => t.dan)), margin, soft),
    );
    return mean(perAnchor);
  }
  const perPair = groupBy(all, (t) => `${t.a},${t.p}`).map((ts) => {
    const farther = ts.filter((t) => t.dan > t.dap).map((t) => t.dan);
    const dan = farther.length ? Math.min(...farther) : Math.min(...ts.map((t) => t.dan));
    return term(ts[0].dap, dan, margin, soft);
  });
  return mean(perPair);
}

/** Mean hinge over given triplets (for the random miner, whose choice the reference cannot replay). */
function refLossOf(t: Triplets, emb: Float32Array, margin: number): number {
  const rows = rowsOf(emb);
  const terms = [...t.anchors].map((a, k) =>
    term(sq(rows[a], rows[t.positives[k]]), sq(rows[a], rows[t.negatives[k]]), margin, false),
  );
  return mean(terms);
}

const fixed = (t: Triplets): Miner => ({ name: 'fixed', mine: () => t });

/** Central finite differences of a loss with the mined triplets held fixed (mining is not differentiated). */
function checkGradient(name: string, opts: TripletLossOptions, emb: Float32Array): void {
  const loss = new TripletMarginLoss(opts);
  const mined = loss.miner.mine(squaredEuclidean.pairwise(emb, labels.length, dim), labels, labels.length);
  const frozen = new TripletMarginLoss({ ...opts, miner: fixed(mined) });
  const { grad, stats } = frozen.compute(emb, labels, dim);
  assert.ok(stats.activeTriplets > 0, `${name}: some triplets must be active`);
  let maxErr = 0;
  let maxGrad = 0;
  for (let k = 0; k < emb.length; k++) {
    const keep = emb[k];
    emb[k] = keep + 1e-4;
    const up = emb[k];
    const lUp = frozen.compute(emb, labels, dim);
    emb[k] = keep - 1e-4;
    const down = emb[k];
    const lDown = frozen.compute(emb, labels, dim);
    emb[k] = keep;
    // A triplet crossing the hinge's kink would make the difference meaningless; none may.
    assert.equal(lUp.stats.activeTriplets, stats.activeTriplets, `${name}: kink crossed at ${k}`);
    assert.equal(lDown.stats.activeTriplets, stats.activeTriplets, `${name}: kink crossed at ${k}`);
    const fd = (lUp.loss - lDown.loss) / (up - down);
    maxErr = Math.max(maxErr, Math.abs(fd - grad[k]));
    maxGrad = Math.max(maxGrad, Math.abs(grad[k]));
  }
  assert.ok(maxGrad > 1e-3, `${name}: gradient is not trivially zero (${maxGrad})`);
  assert.ok(maxErr < 1e-4 * maxGrad, `${name}: max |fd − grad| = ${maxErr}, max |grad| = ${maxGrad}`);
}

test('hard, all (mean over active) and semi-hard losses equal the brute-force reference', () => {
  for (const seed of [1, 2, 3, 4]) {
    const emb = unitRows(labels.length, dim, seed);
    for (const margin of [0.2, 1]) {
      for (const strategy of ['hard', 'all', 'semi-hard'] as const) {
        const r = new TripletMarginLoss({ margin, ...tripletOptionsFor(strategy) }).compute(emb, labels, dim);
        const ref = refLoss(strategy, emb, margin);
        assert.ok(ref > 0, `${strategy}: reference is not trivially 0`);
        assert.ok(Math.abs(r.loss - ref) < 1e-9, `seed ${seed} ${strategy} α=${margin}: ${r.loss} vs ${ref}`);
      }
    }
    // Triplet counts: every valid triplet for batch-all; one per anchor-positive pair for semi-hard.
    const d = squaredEuclidean.pairwise(emb, labels.length, dim);
    assert.equal(batchAllMiner.mine(d, labels, labels.length).anchors.length, 12 * 2 * 10);
    assert.equal(semiHardMiner.mine(d, labels, labels.length).anchors.length, 12 * 2);
  }
});

test('semi-hard picks the closest strictly farther negative, else the closest one; ties go to the lowest index', () => {
  // 1-D: identity 0 at 0 and 0.5; identity 1 at 1, −1, 1 (rows 2 and 4 tie everywhere).
  const emb = new Float32Array([0, 0.5, 1, -1, 1]);
  const labs = [0, 0, 1, 1, 1];
  const d = squaredEuclidean.pairwise(emb, 5, 1);
  const t = semiHardMiner.mine(d, labs, 5);
  // (0,1): d_ap = .25, negatives at 1, 1, 1 → all farther, tie → row 2.
  // (1,0): d_ap = .25, negatives at .25 (equal, so not farther), 2.25, .25 → row 3.
  // Anchors 2 and 4 (both at 1): with the positive at 0 (d_ap = 0) the closest farther negative is row 1
  // (d = .25); with the positive at −1 (d_ap = 4) none is farther → the hardest, row 1 again.
  // Anchor 3 (at −1): d_ap = 4 to both positives, negatives at 1 and 2.25 → the hardest, row 0.
  assert.deepEqual([...t.anchors], [0, 1, 2, 2, 3, 3, 4, 4]);
  assert.deepEqual([...t.positives], [1, 0, 3, 4, 2, 4, 2, 3]);
  assert.deepEqual([...t.negatives], [2, 3, 1, 1, 0, 0, 1, 1]);
  const h = batchHardMiner.mine(d, labs, 5);
  assert.deepEqual([...h.negatives], [2, 2, 1, 0, 1]);
});

test('soft-margin losses equal the reference for hard and all', () => {
  const emb = unitRows(labels.length, dim, 7);
  for (const strategy of ['hard', 'all'] as const) {
    const r = new TripletMarginLoss({ softMargin: true, ...tripletOptionsFor(strategy) }).compute(
      emb,
      labels,
      dim,
    );
    const ref = refLoss(strategy, emb, 0, true);
    assert.ok(Math.abs(r.loss - ref) < 1e-9, `${strategy}: ${r.loss} vs ${ref}`);
    assert.equal(r.stats.activeTriplets, r.stats.triplets, 'softplus is positive on every triplet');
  }
});

test('random mining gives valid triplets, reproducible from its seed and new on each call', () => {
  const emb = unitRows(labels.length, dim, 3);
  const d = squaredEuclidean.pairwise(emb, labels.length, dim);
  const m1 = randomMiner(42);
  const m2 = minerByName('random', { seed: 42 });
  const calls1 = [0, 1, 2].map(() => m1.mine(d, labels, labels.length));
  // The draws ignore distances: the second miner sees another matrix and must still agree.
  const d2 = squaredEuclidean.pairwise(unitRows(labels.length, dim, 9), labels.length, dim);
  const calls2 = [0, 1, 2].map(() => m2.mine(d2, labels, labels.length));
  assert.deepEqual(calls1, calls2);
  assert.notDeepEqual(calls1[0].negatives, calls1[1].negatives);
  assert.notDeepEqual(randomMiner(43).mine(d, labels, labels.length).negatives, calls1[0].negatives);
  // A resumed miner continues the same sequence once its call count is set back.
  const resumed = randomMiner(42);
  resumed.calls = 2;
  assert.deepEqual(resumed.mine(d, labels, labels.length), calls1[2]);

  const pairs = everyTriplet(emb, labels)
    .filter((t) => t.n === 12)
    .map((t) => [t.a, t.p]);
  const counts = new Map<number, number>();
  for (let c = 0; c < 100; c++) {
    const t = m1.mine(d, labels, labels.length);
    assert.deepEqual(
      [...t.anchors].map((a, k) => [a, t.positives[k]]),
      pairs,
      'one triplet per anchor-positive pair, in order',
    );
    t.negatives.forEach((n, k) => {
      assert.notEqual(labels[n], labels[t.anchors[k]]);
      if (t.anchors[k] === 0 && t.positives[k] === 1) counts.set(n, (counts.get(n) ?? 0) + 1);
    });
  }
  // Pair (0,1) has 10 possible negatives; 100 uniform draws hit each one (P(miss any) ≈ 3e-4).
  assert.equal(counts.size, 10);
  for (const c of counts.values()) assert.ok(c >= 2 && c <= 25, `count ${c}`);

  const t = randomMiner(5).mine(d, labels, labels.length);
  const r = new TripletMarginLoss({ margin: 0.5, miner: fixed(t) }).compute(emb, labels, dim);
  const ref = refLossOf(t, emb, 0.5);
  assert.ok(Math.abs(r.loss - ref) < 1e-9, `${r.loss} vs ${ref}`);
});

test('gradients of every strategy match central finite differences', () => {
  const emb = unitRows(labels.length, dim, 11);
  checkGradient('hard', { margin: 0.5, miner: batchHardMiner }, emb);
  checkGradient('all', { margin: 0.5, ...tripletOptionsFor('all') }, emb);
  checkGradient('semi-hard', { margin: 0.5, ...tripletOptionsFor('semi-hard') }, emb);
  checkGradient('random', { margin: 0.5, ...tripletOptionsFor('random', { seed: 3 }) }, emb);
  checkGradient('soft hard', { softMargin: true, miner: batchHardMiner }, emb);
  checkGradient('soft all', { softMargin: true, ...tripletOptionsFor('all') }, emb);
});

test('edge cases: singletons, nothing active, a single identity', () => {
  const strategies = ['all', 'hard', 'semi-hard', 'random'] as const;
  // The singleton (row 12) never anchors a triplet and is never a positive.
  const emb = unitRows(labels.length, dim, 2);
  const d = squaredEuclidean.pairwise(emb, labels.length, dim);
  for (const s of strategies) {
    const t = minerByName(s, { seed: 1 }).mine(d, labels, labels.length);
    assert.ok(t.anchors.length > 0);
    assert.ok(!t.anchors.includes(12) && !t.positives.includes(12), s);
  }

  // Every identity collapsed onto its own basis vector: d(a,p) = 0, d(a,n) = 2 > α, so nothing is active.
  const easy = new Float32Array(labels.length * dim);
  labels.forEach((l, i) => (easy[i * dim + l] = 1));
  for (const s of strategies) {
    const r = new TripletMarginLoss(tripletOptionsFor(s, { seed: 1 })).compute(easy, labels, dim);
    assert.equal(r.loss, 0, s);
    assert.ok(r.stats.triplets > 0 && r.stats.activeTriplets === 0, s);
    assert.ok(
      r.grad.every((g) => g === 0),
      `${s}: zero gradient, no NaN`,
    );
    // The soft margin never switches off: softplus(−2) per triplet, gradient σ(−2) pulling positives in.
    const soft = new TripletMarginLoss({ softMargin: true, ...tripletOptionsFor(s, { seed: 1 }) });
    const rs = soft.compute(easy, labels, dim);
    assert.ok(Math.abs(rs.loss - softplus(-2)) < 1e-12, `${s}: ${rs.loss}`);
    assert.ok(rs.grad.every(Number.isFinite));
  }

  // One identity: no negatives, hence no triplet, loss 0 and a zero gradient (not NaN).
  const one = unitRows(4, dim, 8);
  for (const s of strategies) {
    const opts = tripletOptionsFor(s, { seed: 1 });
    for (const softMargin of [false, true]) {
      const r = new TripletMarginLoss({ ...opts, softMargin }).compute(one, [7, 7, 7, 7], dim);
      assert.equal(r.loss, 0, s);
      assert.equal(r.stats.triplets, 0, s);
      assert.ok(
        r.grad.every((g) => g === 0),
        s,
      );
    }
  }
});

test('minerByName knows the four strategies and rejects others', () => {
  assert.equal(minerByName('all'), batchAllMiner);
  assert.equal(minerByName('hard'), batchHardMiner);
  assert.equal(minerByName('semi-hard'), semiHardMiner);
  assert.equal(minerByName('random').name, 'random');
  assert.equal(tripletOptionsFor('all').reduction, 'meanNonZero');
  assert.equal(tripletOptionsFor('hard').reduction, 'mean');
  assert.throws(
    () => minerByName('hardest'),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
  assert.throws(
    () => minerByName('random', { seed: 0.5 }),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
});
