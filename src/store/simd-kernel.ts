/**
 * The gallery's scan loop as a tiny hand-assembled WebAssembly SIMD module (~220 bytes, built here so
 * there is no toolchain or binary file to ship). One call scores every row against the query with f32x4
 * multiply-adds and keeps the best dot product per person — about 5× faster than the scalar JS loop,
 * which leaves the scan bound by memory bandwidth. Products are accumulated in float32, so a dot product
 * of unit vectors carries an error of order 1e-7 (the JS fallback accumulates in float64).
 *
 *   scan(q, v, n, rowBytes, slots, best)   all byte offsets into the imported memory `env.mem`
 *     for r in 0..n−1:  s = Σ_j q[j]·v[r][j]  (rowBytes/16 f32x4 steps)
 *                       if s > best[slots[r]]: best[slots[r]] = s
 * rowBytes must be a positive multiple of 16 (dim a multiple of 4).
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
const i32const = (v: number): number[] => [0x41, v]; // small non-negative values only (< 64)
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
const I32_ADD = 0x6a;
const I32_SHL = 0x74;
const I32_LT_U = 0x49;
const I32_EQZ = 0x45;
const F32_ADD = 0x92;
const F32_GT = 0x5e;
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const IF = [0x04, 0x40];
const END = 0x0b;
const BR_IF = (depth: number): number[] => [0x0d, depth];
const V128_LOAD = simd(0x00, 4, 0); // align 2^4, offset 0
const F32X4_MUL = simd(0xe6);
const F32X4_ADD = simd(0xe4);
const LANE = (i: number): number[] => simd(0x1f, i); // f32x4.extract_lane

// Params 0 q, 1 v, 2 n, 3 rowBytes, 4 slots, 5 best; locals 6 r, 7 j, 8 bestAddr, 9 acc (v128), 10 s (f32).
// prettier-ignore
const Q = 0, V = 1, N = 2, ROW = 3, SLOTS = 4, BEST = 5, R = 6, J = 7, ADDR = 8, ACC = 9, S = 10;

function moduleBytes(): Uint8Array<ArrayBuffer> {
  // prettier-ignore
  const code = [
    ...BLOCK,
    ...get(N), I32_EQZ, ...BR_IF(0),
    ...LOOP, // rows
    ...simd(0x0c, ...new Array<number>(16).fill(0)), ...set(ACC), // v128.const 0
    ...i32const(0), ...set(J),
    ...LOOP, // dot product
    ...get(ACC),
    ...get(Q), ...get(J), I32_ADD, ...V128_LOAD,
    ...get(V), ...get(J), I32_ADD, ...V128_LOAD,
    ...F32X4_MUL, ...F32X4_ADD, ...set(ACC),
    ...get(J), ...i32const(16), I32_ADD, ...tee(J), ...get(ROW), I32_LT_U, ...BR_IF(0),
    END,
    ...get(ACC), ...LANE(0), ...get(ACC), ...LANE(1), F32_ADD,
    ...get(ACC), ...LANE(2), F32_ADD, ...get(ACC), ...LANE(3), F32_ADD, ...set(S),
    // ADDR = best + 4·slots[r]
    ...get(BEST), ...get(SLOTS), 0x28, 2, 0, ...i32const(2), I32_SHL, I32_ADD, ...set(ADDR),
    ...get(S), ...get(ADDR), 0x2a, 2, 0, F32_GT, // s > best[slot]
    ...IF, ...get(ADDR), ...get(S), 0x38, 2, 0, END, // f32.store
    ...get(V), ...get(ROW), I32_ADD, ...set(V),
    ...get(SLOTS), ...i32const(4), I32_ADD, ...set(SLOTS),
    ...get(R), ...i32const(1), I32_ADD, ...tee(R), ...get(N), I32_LT_U, ...BR_IF(0),
    END,
    END,
    END,
  ];
  const body = [3, 3, I32, 1, V128, 1, F32, ...code];
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]),
    ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x00, 0x01]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('scan'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

export type ScanFn = (q: number, v: number, n: number, rowBytes: number, slots: number, best: number) => void;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable or VISAGE_GALLERY_KERNEL=js. */
export function scanModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (process.env.VISAGE_GALLERY_KERNEL === 'js' || typeof WebAssembly !== 'object') return compiled;
  const bytes = moduleBytes();
  if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
  return compiled;
}

/** Bind the scan function to a memory (a new instance per memory; instantiation is microseconds). */
export function bindScan(module: WebAssembly.Module, mem: WebAssembly.Memory): ScanFn {
  const instance = new WebAssembly.Instance(module, { env: { mem } });
  return instance.exports.scan as ScanFn;
}
