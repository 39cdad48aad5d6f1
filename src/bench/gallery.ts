/**
 * Gallery search benchmark (`visage bench gallery`): build an n-person gallery of random unit vectors in
 * one transaction, reopen it (timing the load), then time exact 1:n searches of noisy copies of enrolled
 * vectors against a peer measured in the same run on the same vectors and queries: the scalar JS scan
 * (the same exact algorithm without the WebAssembly SIMD kernel). Random vectors are the worst case for
 * pruning-based indexes and irrelevant to this one: the scan is exact, so its cost depends only on n × dim.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Gallery } from '../store/gallery.js';
import { VectorIndex, type ScanKernel } from '../store/vector-index.js';
import { gaussianPaired, mulberry32, randomUnitVector } from '../util/random.js';
import { median } from '../util/stats.js';

export interface GalleryBenchOptions {
  /** Gallery size in people (one embedding each). Default 100 000. */
  n?: number;
  dim?: number;
  /** Timed searches (after warm-up). Default 200. */
  queries?: number;
  top?: number;
  seed?: number;
  /** Folder for the temporary gallery (default: a new one under the OS temp dir, removed afterwards). */
  dir?: string;
}

export interface Timing {
  median: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

export interface GalleryBenchResult {
  n: number;
  dim: number;
  queries: number;
  top: number;
  /** Building the gallery file in one transaction, ms (includes generating the random vectors). */
  buildMs: number;
  /** Reopening it, including loading every vector into memory, ms. */
  openMs: number;
  /** Per search, ms. */
  searchMs: Timing;
  /** The kernel the gallery used. */
  kernel: ScanKernel;
  /** The peer, measured on the same vectors and queries in the same run: the scalar JS scan. */
  peer: { name: 'js-scalar'; searchMs: Timing };
  /** peer median / gallery median. */
  speedup: number;
  /** Fraction of queries whose source person ranked first: must be 1 (exactness check). */
  rank1: number;
  fileBytes: number;
}

/** Unit-length copy (the gallery normalises queries itself; the bare index expects unit vectors). */
function normalized(q: Float32Array): Float32Array {
  let ss = 0;
  for (let j = 0; j < q.length; j++) ss += q[j] * q[j];
  const inv = 1 / Math.sqrt(ss);
  return q.map((x) => x * inv);
}

function timing(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return {
    median: median(s),
    p95: q(0.95),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    min: s[0],
    max: s[s.length - 1],
  };
}

export function benchGallerySearch(opts: GalleryBenchOptions = {}): GalleryBenchResult {
  const n = opts.n ?? 100_000;
  const dim = opts.dim ?? 128;
  const queries = opts.queries ?? 200;
  const top = opts.top ?? 5;
  const normal = gaussianPaired(mulberry32(opts.seed ?? 1));
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'visage-bench-'));
  const file = path.join(dir, `bench-${n}x${dim}.gallery`);
  const model = `bench-random@${dim}`;
  // Query sources are regenerated from their index rather than all n vectors kept twice.
  const picks = new Set<number>();
  const pickRand = mulberry32((opts.seed ?? 1) + 7);
  while (picks.size < Math.min(queries, n)) picks.add(Math.floor(pickRand() * n));
  const kept = new Map<number, Float32Array>();
  const peerIndex = new VectorIndex(dim, n, { kernel: 'js' });
  try {
    fs.rmSync(file, { force: true });
    const t0 = performance.now();
    const g = Gallery.open(file, { model, dim });
    g.enrollMany(
      (function* () {
        for (let i = 0; i < n; i++) {
          const v = randomUnitVector(normal, dim);
          if (picks.has(i)) kept.set(i, v);
          peerIndex.add(i, `person-${i}`, i, v);
          yield { name: `person-${i}`, embeddings: [v] };
        }
      })(),
    );
    g.close();
    const buildMs = performance.now() - t0;

    const t1 = performance.now();
    const gallery = Gallery.open(file, { model, dim, readonly: true });
    const openMs = performance.now() - t1;
    try {
      // Noisy copies: a different photo of an enrolled person, roughly (noise σ per component 0.3/√dim).
      const qs = [...kept.entries()].map(([i, v]) => {
        const q = new Float32Array(dim);
        for (let j = 0; j < dim; j++) q[j] = v[j] + (0.3 / Math.sqrt(dim)) * normal();
        return { name: `person-${i}`, q };
      });
      const time = (search: (q: Float32Array) => string): { t: Timing; hits: number } => {
        for (let w = 0; w < Math.min(10, qs.length); w++) search(qs[w].q);
        const times: number[] = [];
        let hits = 0;
        for (let k = 0; k < queries; k++) {
          const { name, q } = qs[k % qs.length];
          const s = performance.now();
          const best = search(q);
          times.push(performance.now() - s);
          if (best === name) hits++;
        }
        return { t: timing(times), hits };
      };
      const ours = time((q) => gallery.search(q, { top, threshold: 1 }).matches[0].name);
      const peer = time((q) => peerIndex.search(normalized(q), top)[0].name);
      return {
        n,
        dim,
        queries,
        top,
        buildMs,
        openMs,
        searchMs: ours.t,
        kernel: gallery.stats().searchKernel,
        peer: { name: 'js-scalar', searchMs: peer.t },
        speedup: peer.t.median / ours.t.median,
        rank1: Math.min(ours.hits, peer.hits) / queries,
        fileBytes: fs.statSync(file).size,
      };
    } finally {
      gallery.close();
    }
  } finally {
    if (opts.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
}
