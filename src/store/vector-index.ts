/**
 * The gallery's in-memory search index: every enrolled vector in ONE contiguous Float32Array (row-major,
 * n × dim), each row tagged with its person's slot. Exact search is a single pass of dot products
 * (for unit vectors ‖q − v‖² = 2 − 2·q·v), a best-per-person max, and a partial top-k over people.
 * A flat array keeps the scan cache- and prefetch-friendly; 100k × 128 floats is 51 MB.
 *
 * The scan runs in a WebAssembly SIMD kernel (simd-kernel.ts) when dim is a multiple of 4, with the
 * arrays living in that module's memory so nothing is copied per search; otherwise in plain JS.
 */
import { bindScan, scanModule, type ScanFn } from './simd-kernel.js';

export interface IndexMatch {
  personId: number;
  name: string;
  /** Squared L2 distance between unit vectors, in [0, 4]. */
  distance: number;
}

export type ScanKernel = 'wasm-simd' | 'js';

interface Slot {
  personId: number;
  name: string;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;
/** Beyond this the wasm32 memory would be too large: fall back to JS arrays. */
const MAX_WASM_BYTES = 2 ** 31;

export class VectorIndex {
  readonly dim: number;
  private vectors: Float32Array = new Float32Array(0);
  private rowSlot: Int32Array = new Int32Array(0);
  private rowEmbeddingId: Float64Array = new Float64Array(0);
  private capacity = 0;
  private rows = 0;
  private slots: Slot[] = [];
  private slotOf = new Map<number, number>();
  /** Best dot product per person: a view into wasm memory, or a JS array. */
  private best: Float32Array | Float64Array = new Float64Array(0);
  private wasm: { module: WebAssembly.Module; scan: ScanFn; query: Float32Array } | undefined;
  private useWasm: boolean;

  constructor(dim: number, capacity = 1024, opts: { kernel?: ScanKernel | 'auto' } = {}) {
    this.dim = dim;
    const want = opts.kernel ?? 'auto';
    this.useWasm = want !== 'js' && dim % 4 === 0 && scanModule() !== null;
    if (want === 'wasm-simd' && !this.useWasm) throw new Error('WebAssembly SIMD kernel unavailable here');
    this.allocate(Math.max(1, capacity));
  }

  get kernel(): ScanKernel {
    return this.wasm ? 'wasm-simd' : 'js';
  }

  /** Number of vectors. */
  get size(): number {
    return this.rows;
  }

  /** Number of people with at least one vector. */
  get people(): number {
    return this.slots.length;
  }

  /** (Re)allocate storage for `cap` rows, keeping the current rows. */
  private allocate(cap: number): void {
    const d = this.dim;
    const oldV = this.vectors.subarray(0, this.rows * d);
    const oldS = this.rowSlot.subarray(0, this.rows);
    const oldE = this.rowEmbeddingId.subarray(0, this.rows);
    const module = this.useWasm ? scanModule() : null;
    const qBytes = align16(d * 4);
    const bestBytes = align16(cap * 4);
    const slotBytes = align16(cap * 4);
    const total = qBytes + bestBytes + slotBytes + cap * d * 4;
    if (module && total <= MAX_WASM_BYTES) {
      const mem = new WebAssembly.Memory({ initial: Math.ceil(total / 65536) });
      const buf = mem.buffer;
      const query = new Float32Array(buf, 0, d);
      this.best = new Float32Array(buf, qBytes, cap);
      this.rowSlot = new Int32Array(buf, qBytes + bestBytes, cap);
      this.vectors = new Float32Array(buf, qBytes + bestBytes + slotBytes, cap * d);
      this.wasm = { module, scan: bindScan(module, mem), query };
    } else {
      this.useWasm = false;
      this.wasm = undefined;
      this.vectors = new Float32Array(cap * d);
      this.rowSlot = new Int32Array(cap);
      this.best = new Float64Array(cap);
    }
    this.vectors.set(oldV);
    this.rowSlot.set(oldS);
    const e = new Float64Array(cap);
    e.set(oldE);
    this.rowEmbeddingId = e;
    this.capacity = cap;
  }

  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    let next = Math.max(this.capacity, 1024);
    while (next < rows) next *= 2;
    this.allocate(next);
  }

  private slotFor(personId: number, name: string): number {
    let slot = this.slotOf.get(personId);
    if (slot === undefined) {
      slot = this.slots.length;
      this.slots.push({ personId, name });
      this.slotOf.set(personId, slot);
    }
    return slot;
  }

  /** Append one vector (already unit-length, length dim) for a person. */
  add(personId: number, name: string, embeddingId: number, vector: ArrayLike<number>): void {
    if (vector.length !== this.dim) throw new Error(`vector length ${vector.length} ≠ index dim ${this.dim}`);
    this.reserve(this.rows + 1);
    this.vectors.set(vector, this.rows * this.dim);
    this.rowSlot[this.rows] = this.slotFor(personId, name);
    this.rowEmbeddingId[this.rows] = embeddingId;
    this.rows++;
  }

  /** Append straight from a float32 BLOB's bytes (what SQLite returns), skipping a Float32Array per row. */
  addBytes(personId: number, name: string, embeddingId: number, bytes: Uint8Array): void {
    if (bytes.byteLength !== this.dim * 4) {
      throw new Error(`vector blob has ${bytes.byteLength} bytes, expected ${this.dim * 4}`);
    }
    this.reserve(this.rows + 1);
    const v = this.vectors;
    new Uint8Array(v.buffer, v.byteOffset + this.rows * this.dim * 4, this.dim * 4).set(bytes);
    this.rowSlot[this.rows] = this.slotFor(personId, name);
    this.rowEmbeddingId[this.rows] = embeddingId;
    this.rows++;
  }

  rename(personId: number, name: string): void {
    const slot = this.slotOf.get(personId);
    if (slot !== undefined) this.slots[slot].name = name;
  }

  /** Drop a person's rows (compacting the array in place) and their slot. Returns rows removed. */
  removePerson(personId: number): number {
    const slot = this.slotOf.get(personId);
    if (slot === undefined) return 0;
    const d = this.dim;
    let w = 0;
    for (let r = 0; r < this.rows; r++) {
      if (this.rowSlot[r] === slot) continue;
      if (w !== r) {
        this.vectors.copyWithin(w * d, r * d, (r + 1) * d);
        this.rowSlot[w] = this.rowSlot[r];
        this.rowEmbeddingId[w] = this.rowEmbeddingId[r];
      }
      w++;
    }
    const removed = this.rows - w;
    this.rows = w;
    // Move the last slot into the hole so slots stay dense.
    const last = this.slots.length - 1;
    if (slot !== last) {
      const moved = this.slots[last];
      this.slots[slot] = moved;
      this.slotOf.set(moved.personId, slot);
      for (let r = 0; r < this.rows; r++) if (this.rowSlot[r] === last) this.rowSlot[r] = slot;
    }
    this.slots.pop();
    this.slotOf.delete(personId);
    return removed;
  }

  /** A copy of row r's vector (for export and tests). */
  vector(r: number): Float32Array {
    return this.vectors.slice(r * this.dim, (r + 1) * this.dim);
  }

  /**
   * The `top` nearest people to unit vector `q`, nearest first; each person's distance is that of their
   * closest vector. Ties keep internal slot order (deterministic, otherwise unspecified).
   */
  search(q: ArrayLike<number>, top: number): IndexMatch[] {
    const d = this.dim;
    const P = this.slots.length;
    if (q.length !== d) throw new Error(`query length ${q.length} ≠ index dim ${d}`);
    const best = this.best;
    best.fill(-Infinity, 0, P);
    if (this.wasm) {
      this.wasm.query.set(q);
      const base = this.wasm.query.byteOffset;
      this.wasm.scan(
        base,
        this.vectors.byteOffset,
        this.rows,
        d * 4,
        this.rowSlot.byteOffset,
        best.byteOffset,
      );
    } else {
      this.scanJs(q, best);
    }
    return this.topK(best, P, top);
  }

  private scanJs(q: ArrayLike<number>, best: Float32Array | Float64Array): void {
    const d = this.dim;
    const n = this.rows;
    const V = this.vectors;
    const S = this.rowSlot;
    // Four accumulators break the add dependency chain so the JIT can overlap the multiplies.
    const d4 = d - (d % 4);
    for (let r = 0, off = 0; r < n; r++, off += d) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < d4; j += 4) {
        s0 += q[j] * V[off + j];
        s1 += q[j + 1] * V[off + j + 1];
        s2 += q[j + 2] * V[off + j + 2];
        s3 += q[j + 3] * V[off + j + 3];
      }
      for (; j < d; j++) s0 += q[j] * V[off + j];
      const s = s0 + s1 + s2 + s3;
      const p = S[r];
      if (s > best[p]) best[p] = s;
    }
  }

  /** Partial selection: a sorted buffer of k, entered only by values beating the current k-th. */
  private topK(best: Float32Array | Float64Array, P: number, top: number): IndexMatch[] {
    const k = Math.min(top, P);
    const idx = new Int32Array(k);
    const val = new Float64Array(k);
    let filled = 0;
    for (let p = 0; p < P; p++) {
      const s = best[p];
      if (filled === k && s <= val[k - 1]) continue;
      let i = filled < k ? filled++ : k - 1;
      while (i > 0 && val[i - 1] < s) {
        val[i] = val[i - 1];
        idx[i] = idx[i - 1];
        i--;
      }
      val[i] = s;
      idx[i] = p;
    }
    const out: IndexMatch[] = [];
    for (let i = 0; i < filled; i++) {
      const slot = this.slots[idx[i]];
      // Clamp: rounding can give a dot a hair above 1 for identical vectors.
      out.push({ personId: slot.personId, name: slot.name, distance: Math.max(0, 2 - 2 * val[i]) });
    }
    return out;
  }
}
