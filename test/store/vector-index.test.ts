import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VectorIndex, type IndexMatch } from '../../src/store/vector-index.js';
import { gaussianPaired, mulberry32, randomUnitVector } from '../../src/util/random.js';

/** Best-per-person squared L2 by brute force in float64, nearest first. */
function bruteForce(
  rows: { person: number; v: Float32Array }[],
  q: Float32Array,
  top: number,
): [number, number][] {
  const best = new Map<number, number>();
  for (const { person, v } of rows) {
    let d = 0;
    for (let j = 0; j < q.length; j++) d += (q[j] - v[j]) ** 2;
    if (!(d >= (best.get(person) ?? Infinity))) best.set(person, d);
  }
  return [...best.entries()].sort((a, b) => a[1] - b[1]).slice(0, top);
}

function check(got: IndexMatch[], want: [number, number][]): void {
  assert.deepEqual(
    got.map((m) => m.personId),
    want.map((w) => w[0]),
  );
  got.forEach((m, i) =>
    assert.ok(Math.abs(m.distance - want[i][1]) < 2e-6, `${m.distance} vs ${want[i][1]}`),
  );
}

describe('VectorIndex', () => {
  for (const kernel of ['wasm-simd', 'js'] as const) {
    test(`${kernel}: exact vs brute force through growth and removals`, () => {
      const dim = 32;
      const normal = gaussianPaired(mulberry32(5));
      const rand = mulberry32(6);
      const index = new VectorIndex(dim, 1, { kernel });
      assert.equal(index.kernel, kernel);
      const rows: { person: number; v: Float32Array }[] = [];
      // 3000 rows over 400 people, interleaved, from a capacity of 1: many reallocations.
      for (let i = 0; i < 3000; i++) {
        const person = Math.floor(rand() * 400);
        const v = randomUnitVector(normal, dim);
        rows.push({ person, v });
        index.add(person, `p${person}`, i, v);
      }
      assert.equal(index.size, 3000);
      for (let t = 0; t < 10; t++) {
        const q = t < 5 ? rows[t * 97].v : randomUnitVector(normal, dim);
        check(index.search(q, 6), bruteForce(rows, q, 6));
      }
      // Remove a quarter of the people; rows compact and slots re-pack.
      for (let p = 0; p < 400; p += 4) {
        const n = rows.filter((r) => r.person === p).length;
        assert.equal(index.removePerson(p), n);
      }
      const left = rows.filter((r) => r.person % 4 !== 0);
      assert.equal(index.size, left.length);
      for (let t = 0; t < 10; t++) {
        const q = t < 5 ? left[t * 53].v : randomUnitVector(normal, dim);
        check(index.search(q, 10), bruteForce(left, q, 10));
      }
      index.rename(1, 'renamed');
      assert.equal(index.search(left.find((r) => r.person === 1)!.v, 1)[0].name, 'renamed');
    });
  }

  test('kernel choice: SIMD for dim % 4 = 0, JS otherwise; both agree', () => {
    assert.equal(new VectorIndex(128).kernel, 'wasm-simd');
    const odd = new VectorIndex(10);
    assert.equal(odd.kernel, 'js');
    const normal = gaussianPaired(mulberry32(9));
    const a = new VectorIndex(128, 16, { kernel: 'wasm-simd' });
    const b = new VectorIndex(128, 16, { kernel: 'js' });
    for (let i = 0; i < 500; i++) {
      const v = randomUnitVector(normal, 128);
      a.add(i % 37, `p${i % 37}`, i, v);
      b.add(i % 37, `p${i % 37}`, i, v);
    }
    const q = randomUnitVector(normal, 128);
    const ra = a.search(q, 37);
    const rb = b.search(q, 37);
    assert.deepEqual(
      ra.map((m) => m.personId),
      rb.map((m) => m.personId),
    );
    ra.forEach((m, i) => assert.ok(Math.abs(m.distance - rb[i].distance) < 2e-6));
    assert.equal(a.search(q, 100).length, 37, 'top is capped at the number of people');
  });
});
