import fs from 'node:fs';
import path from 'node:path';
import type { Dataset, Group } from 'h5wasm';
import type { WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { readWeightHead, statWeightPath } from './read-weight-file.js';
import { decodeFloat16 } from './tfjs-json.js';
import type { Vgg19Weights } from './types.js';
import { vgg19ConvsUntil } from './until.js';

/**
 * Keras VGG-19 weights in HDF5, e.g. keras-applications' `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`.
 * Keras' layout (`save_weights` / legacy `model.save`): the root (or its `model_weights` group for a whole
 * model) has one group per layer, listed by the `layer_names` attribute; each group lists its datasets in
 * `weight_names`, named after the variables: `block1_conv1/kernel:0` (Keras 2, so the dataset sits in a
 * nested group) or `block1_conv1_W_1:0` (Keras 1, `_W`/`_b`). Keras 3's `.weights.h5` keeps the layer
 * name with `vars/0` (kernel) and `vars/1` (bias). We find the datasets by those names rather than by
 * order, which also covers a VGG-19 nested inside a larger model.
 *
 * Kernels are HWIO ('tf' kernels) as ours; Theano-era files ('th' ordering, OIHW, and flipped because
 * Theano convolves where TensorFlow correlates) are converted. Keras' `vgg19.preprocess_input` is Caffe
 * mode: BGR, minus the ImageNet mean pixel.
 */
export async function loadKerasVgg19(file: string, opts: { until?: string } = {}): Promise<Vgg19Weights> {
  const convs = vgg19ConvsUntil(opts.until);
  const abs = path.resolve(file);
  checkHdf5File(abs);
  const h5 = await hdf5();
  // h5wasm's node build reaches the real file system (NODERAWFS): HDF5 reads the datasets it is asked
  // for straight from disk, so the 80 MB file is never held in memory as a whole.
  const f = quietly(() => new h5.File(abs, 'r'));
  if (f.file_id < 0n) throw badFile(abs, 'HDF5 could not open it');
  try {
    const found = new Map<string, string>();
    walk(f, '', (p) => {
      const m = /block(\d)_conv(\d)[/_](kernel|bias|W|b|vars\/[01])(?:_\d+)?(?::\d+)?$/.exec(p);
      if (!m) return;
      const role = m[3] === 'kernel' || m[3] === 'W' || m[3] === 'vars/0' ? 'kernel' : 'bias';
      const key = `conv${m[1]}_${m[2]}/${role}`;
      const prev = found.get(key);
      if (prev)
        throw new VisageError(
          'E_WRONG_NETWORK',
          `${file} holds more than one VGG-19 (${prev} and ${p}); extract the one to use`,
          { layer: key },
        );
      found.set(key, p);
    });
    const theano = String(attr(f, 'backend') ?? '') === 'theano';
    const weights: WeightMap = new Map();
    for (const conv of convs) {
      for (const role of ['kernel', 'bias'] as const) {
        const p = found.get(`${conv}/${role}`);
        if (!p) return { weights, preprocessing: 'caffe', format: 'keras-h5' }; // the check names what is missing
        const ds = f.get(p) as Dataset;
        const shape = ds.shape ?? [];
        const data = toFloat32(
          quietly(() => ds.value),
          p,
          file,
        );
        weights.set(`${conv}/${role}`, role === 'kernel' ? toHwio(data, shape, theano) : { shape, data });
      }
    }
    return { weights, preprocessing: 'caffe', format: 'keras-h5' };
  } catch (e) {
    if (e instanceof VisageError) throw e;
    throw badFile(abs, (e as Error)?.message ?? String(e), e);
  } finally {
    quietly(() => f.close());
  }
}

type H5 = (typeof import('h5wasm/node'))['default'];
let h5wasm: Promise<H5> | undefined;

/** h5wasm is a 4 MB module: load it only when an .h5 file is read. */
function hdf5(): Promise<H5> {
  h5wasm ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return m.default;
  });
  return h5wasm;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Offset of the HDF5 superblock: 0, or after a user block of 512, 1024, 2048 … bytes (the only places the
 * format allows), or -1 when `head` (the file's first bytes) has none.
 */
export function hdf5SignatureOffset(head: Buffer): number {
  for (let at = 0; at + 8 <= head.length; at = at === 0 ? 512 : at * 2)
    if (head.subarray(at, at + 8).equals(HDF5_SIGNATURE)) return at;
  return -1;
}

/**
 * Refuses what HDF5 would only answer with a generic failure: a missing, empty or non-HDF5 file, and a
 * truncated one (the superblock records where the file ends: base address + end-of-file address).
 */
function checkHdf5File(file: string): void {
  const st = statWeightPath(file);
  if (st.isDirectory()) throw new VisageError('E_UNSUPPORTED_FORMAT', `${file} is a folder, not an .h5 file`);
  const size = st.size;
  const head = readWeightHead(file, size);
  const at = hdf5SignatureOffset(head);
  if (at < 0)
    throw new VisageError('E_UNSUPPORTED_FORMAT', `${file} is not an HDF5 file (no HDF5 signature)`, {
      path: file,
    });
  // The superblock lies inside the head (the signature was found there); zero past what the file holds.
  const sb = Buffer.alloc(64);
  const got = head.copy(sb, 0, at, at + 64);
  const version = sb[8];
  const offsetSize = version >= 2 ? sb[9] : sb[13];
  const baseAt = version === 0 ? 24 : version === 1 ? 28 : 12;
  if (offsetSize !== 8 && offsetSize !== 4) throw badFile(file, `unreadable superblock (version ${version})`);
  const eofAt = baseAt + 2 * offsetSize;
  if (got < eofAt + offsetSize) throw truncated(file, size);
  const read = (o: number) => (offsetSize === 8 ? Number(sb.readBigUInt64LE(o)) : sb.readUInt32LE(o));
  const end = read(baseAt) + read(eofAt);
  if (end > size) throw truncated(file, size, end);
}

function truncated(file: string, size: number, expected?: number): VisageError {
  return new VisageError(
    'E_BAD_WEIGHTS',
    `${file} is truncated: it has ${size} bytes${expected ? `, its HDF5 header says ${expected}` : ''} (download it again)`,
    { path: file, size, expected },
  );
}

function badFile(file: string, why: string, cause?: unknown): VisageError {
  return new VisageError(
    'E_BAD_WEIGHTS',
    `${file} is a damaged HDF5 file: ${why}`,
    { path: file },
    { cause },
  );
}

/**
 * Runs an h5wasm call with HDF5's error-stack printout (dozens of lines on stderr for one failure)
 * swallowed: our errors say what went wrong. h5wasm writes it synchronously through fs.writeSync(2).
 */
function quietly<T>(fn: () => T): T {
  const writeSync = fs.writeSync;
  fs.writeSync = ((fd: number, buf: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number)(fd, buf, ...rest);
    return typeof buf === 'string'
      ? Buffer.byteLength(buf)
      : ((rest[1] as number | undefined) ?? buf.byteLength);
  }) as typeof fs.writeSync;
  try {
    return fn();
  } finally {
    fs.writeSync = writeSync;
  }
}

function attr(g: Group, name: string): unknown {
  return quietly(() => (name in g.attrs ? g.attrs[name].value : undefined));
}

/** Calls `visit` with the path of every dataset under `g` (Keras files hold a few hundred objects at most). */
function walk(g: Group, prefix: string, visit: (p: string) => void): void {
  for (const k of quietly(() => g.keys())) {
    if (prefix === '' && k === 'optimizer_weights') continue; // Adam's moments carry the layer names too
    const p = `${prefix}/${k}`;
    const type = (quietly(() => g.get(k)) as { type?: string } | null)?.type;
    if (type === 'Group') walk(g.get(k) as Group, p, visit);
    else if (type === 'Dataset') visit(p);
  }
}

function toFloat32(v: unknown, p: string, file: string): Float32Array {
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  if (v instanceof Uint16Array) return decodeFloat16(v); // float16 without a native Float16Array
  throw new VisageError('E_BAD_WEIGHTS', `${file}: ${p} does not hold floating-point numbers`, { path: p });
}

/** Keras HWIO kernels pass through; Theano's OIHW ones are transposed and (Theano convolves) flipped. */
function toHwio(
  data: Float32Array,
  shape: number[],
  theano: boolean,
): { shape: number[]; data: Float32Array } {
  const [a, b, c, d] = shape;
  // OIHW ends in the square kernel size; [3, 3, 64, 64] is HWIO, [64, 64, 3, 3] OIHW (kernels are small).
  const oihw = shape.length === 4 && c === d && (a !== b || c < a);
  if (!oihw && !theano) return { shape, data };
  const [O, I, H, W] = oihw ? shape : [d, c, a, b];
  const out = new Float32Array(data.length);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const src = oihw ? ((o * I + i) * H + h) * W + w : ((h * W + w) * I + i) * O + o;
          const [hh, ww] = theano ? [H - 1 - h, W - 1 - w] : [h, w];
          out[((hh * W + ww) * I + i) * O + o] = data[src];
        }
  return { shape: [H, W, I, O], data: out };
}
