import type { WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { checkVgg19Weights } from './check.js';
import { unpickle } from './pickle.js';
import { readWeightFile, sourceName } from './read-weight-file.js';
import type { Vgg19Weights } from './types.js';
import { vgg19ConvsUntil } from './until.js';
import { readZipDirectory, zipEntryData } from './zip.js';

/**
 * torchvision's VGG-19 (`vgg19-dcbb9e9d.pth`): a pickled state_dict whose `features.N.weight` (OIHW) and
 * `features.N.bias` are the 16 convolutions, N = the layer's index in torchvision's `features` Sequential.
 * Reads both containers torch.save writes: the zip archive (torch ≥ 1.6) and the legacy stream (magic
 * number, protocol, sys_info, the object pickle, the storage keys, then each storage's raw bytes) — the
 * 2017 torchvision file is legacy. Only tensors and dicts are rebuilt; a pickled nn.Module would need its
 * Python code to run and is refused.
 */

/** torchvision `features` index of each convolution, conv1_1 … conv5_4. */
export const TORCHVISION_VGG19_FEATURES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'other';

const STORAGE_TYPES: Record<string, { dtype: DType; size: number }> = {
  FloatStorage: { dtype: 'float32', size: 4 },
  DoubleStorage: { dtype: 'float64', size: 8 },
  HalfStorage: { dtype: 'float16', size: 2 },
  BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  LongStorage: { dtype: 'other', size: 8 },
  IntStorage: { dtype: 'other', size: 4 },
  ShortStorage: { dtype: 'other', size: 2 },
  CharStorage: { dtype: 'other', size: 1 },
  ByteStorage: { dtype: 'other', size: 1 },
  BoolStorage: { dtype: 'other', size: 1 },
};

interface StorageType {
  storageType: string;
  dtype: DType;
  size: number;
}

/** A storage: typed element count and, once known, its bytes. */
class Storage {
  bytes: Uint8Array | undefined;
  constructor(
    readonly type: StorageType,
    readonly key: string,
    readonly numel: number,
    readonly littleEndian: boolean,
    /** Legacy views: this storage is `numel` elements of `root` from element `offset`. */
    readonly view?: { root: Storage; offset: number },
  ) {}

  data(source: string): { bytes: Uint8Array; offset: number } {
    if (this.view) {
      const r = this.view.root.data(source);
      return { bytes: r.bytes, offset: r.offset + this.view.offset };
    }
    if (!this.bytes)
      throw new VisageError('E_BAD_WEIGHTS', `${source}: the data of storage ${this.key} is missing`);
    return { bytes: this.bytes, offset: 0 };
  }
}

/** A tensor as torch.save describes it: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

/** An instance of a class we do not rebuild (kept so the error can name it). */
class Opaque {
  constructor(
    readonly className: string,
    readonly args: unknown[],
  ) {}
}

function asInts(v: unknown, source: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number'))
    throw new VisageError('E_BAD_WEIGHTS', `${source}: corrupt tensor description`);
  return v as number[];
}

function findGlobal(source: string) {
  return (module: string, name: string): unknown => {
    const full = `${module}.${name}`;
    // Python 3 pickles an OrderedDict as OrderedDict() then SETITEMS; Python 2 as OrderedDict([[k, v], …]).
    if (full === 'collections.OrderedDict')
      return (items?: unknown) =>
        new Map(
          Array.isArray(items) ? items.map((kv) => (Array.isArray(kv) ? [kv[0], kv[1]] : [kv, null])) : [],
        );
    // Storages saved from a GPU (torch.cuda.FloatStorage) hold the same bytes.
    if ((module === 'torch' || module === 'torch.cuda') && STORAGE_TYPES[name])
      return { storageType: name, ...STORAGE_TYPES[name] };
    if (full === 'torch._utils._rebuild_tensor_v2' || full === 'torch._utils._rebuild_tensor') {
      return (storage: unknown, offset: unknown, size: unknown, stride: unknown) => {
        if (!(storage instanceof Storage) || typeof offset !== 'number')
          throw new VisageError('E_BAD_WEIGHTS', `${source}: corrupt tensor description`);
        return new TensorRef(storage, offset, asInts(size, source), asInts(stride, source));
      };
    }
    if (full === 'torch._utils._rebuild_parameter' || full === 'torch._utils._rebuild_parameter_with_state')
      return (data: unknown) => data;
    // Anything else is never run: it becomes an inert placeholder, and fails only if it is where a tensor
    // or the state_dict must be.
    return (...args: unknown[]) => new Opaque(full, args);
  };
}

function storageTypeOf(v: unknown, source: string): StorageType {
  if (v && typeof v === 'object' && 'storageType' in v) return v as StorageType;
  throw new VisageError('E_BAD_WEIGHTS', `${source}: unknown storage type in the pickle`);
}

/** A torch.save file's top-level object, with tensors as TensorRefs. */
export function readTorchFile(buf: Buffer, source: string): unknown {
  if (buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50) return readZipFormat(buf, source);
  if (buf.length >= 262 && buf.toString('latin1', 257, 262) === 'ustar') {
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${source} is in PyTorch's oldest (tar) format; load it with torch and save it again with torch.save`,
    );
  }
  if (buf[0] === 0x80 && buf[1] <= 5) return readLegacyFormat(buf, source);
  throw new VisageError(
    'E_UNSUPPORTED_FORMAT',
    `${source} is not a PyTorch file (neither a zip archive nor a pickle)`,
  );
}

function readZipFormat(buf: Buffer, source: string): unknown {
  const entries = readZipDirectory(buf, source);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') && n.split('/').length === 2);
  if (!pkl)
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${source} is a zip archive but not a PyTorch file (no data.pkl)`,
    );
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  const littleEndian = !order || zipEntryData(buf, order, source).toString('latin1').trim() !== 'big';
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid) || pid[0] !== 'storage')
      throw new VisageError('E_BAD_WEIGHTS', `${source}: unknown persistent id`);
    const [, type, key, , numel] = pid as [string, unknown, string, string, number];
    let s = storages.get(key);
    if (!s) {
      s = new Storage(storageTypeOf(type, source), String(key), numel, littleEndian);
      const e = entries.get(`${prefix}data/${key}`);
      if (!e) throw new VisageError('E_BAD_WEIGHTS', `${source}: storage ${key} is missing from the archive`);
      s.bytes = zipEntryData(buf, e, source);
      storages.set(key, s);
    }
    return s;
  };
  return unpickle(zipEntryData(buf, entries.get(pkl)!, source), {
    source,
    findGlobal: findGlobal(source),
    persistentLoad,
  }).value;
}

function readLegacyFormat(buf: Buffer, source: string): unknown {
  const plain = { source, findGlobal: () => () => null };
  const magic = unpickle(buf, plain);
  if (magic.value !== LEGACY_MAGIC) {
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${source} is a Python pickle but not a torch.save file (no PyTorch magic number)`,
    );
  }
  const protocol = unpickle(buf, plain, magic.end);
  if (protocol.value !== 1001)
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${source}: unknown PyTorch legacy protocol ${String(protocol.value)}`,
    );
  const sysInfo = unpickle(buf, plain, protocol.end);
  const info = sysInfo.value instanceof Map ? sysInfo.value : new Map();
  if (info.get('little_endian') === false)
    throw new VisageError('E_UNSUPPORTED_FORMAT', `${source} was saved on a big-endian machine`);

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid)) throw new VisageError('E_BAD_WEIGHTS', `${source}: unknown persistent id`);
    if (pid[0] === 'module') return new Opaque(`module ${String(pid[1])}`, []);
    if (pid[0] !== 'storage') throw new VisageError('E_BAD_WEIGHTS', `${source}: unknown persistent id`);
    const [, type, rootKey, , numel, view] = pid as [string, unknown, string, string, number, unknown];
    let root = storages.get(rootKey);
    if (!root) {
      root = new Storage(storageTypeOf(type, source), String(rootKey), numel, true);
      storages.set(rootKey, root);
    }
    if (Array.isArray(view)) {
      const [viewKey, offset, viewSize] = view as [string, number, number];
      return new Storage(root.type, String(viewKey), viewSize, true, { root, offset });
    }
    return root;
  };
  const main = unpickle(buf, { source, findGlobal: findGlobal(source), persistentLoad }, sysInfo.end);
  const keys = unpickle(buf, plain, main.end);
  if (!Array.isArray(keys.value)) throw new VisageError('E_BAD_WEIGHTS', `${source}: corrupt storage list`);
  let p = keys.end;
  for (const key of keys.value as unknown[]) {
    const s = storages.get(String(key));
    if (p + 8 > buf.length) throw new VisageError('E_BAD_WEIGHTS', `${source}: the file is truncated`);
    const numel = Number(buf.readBigInt64LE(p));
    const n = numel * (s?.type.size ?? 1);
    if (!s || numel !== s.numel)
      throw new VisageError('E_BAD_WEIGHTS', `${source}: corrupt storage ${String(key)}`);
    if (p + 8 + n > buf.length)
      throw new VisageError('E_BAD_WEIGHTS', `${source}: the file is truncated (in storage ${String(key)})`);
    s.bytes = buf.subarray(p + 8, p + 8 + n);
    p += 8 + n;
  }
  return main.value;
}

function halfToFloat(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** Copies a tensor's elements in logical (row-major) order into a new Float32Array. */
export function tensorValues(t: TensorRef, source: string, what: string): Float32Array {
  const { type, littleEndian } = t.storage;
  if (type.dtype === 'other')
    throw new VisageError(
      'E_WRONG_NETWORK',
      `${source}: ${what} holds ${type.storageType} values, not floats`,
    );
  const { bytes, offset } = t.storage.data(source);
  const numel = t.size.reduce((a, b) => a * b, 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read =
    type.dtype === 'float32'
      ? (j: number) => dv.getFloat32(j * 4, littleEndian)
      : type.dtype === 'float64'
        ? (j: number) => dv.getFloat64(j * 8, littleEndian)
        : type.dtype === 'float16'
          ? (j: number) => halfToFloat(dv.getUint16(j * 2, littleEndian))
          : (j: number) =>
              new Float32Array(new Uint32Array([dv.getUint16(j * 2, littleEndian) << 16]).buffer)[0];
  // Highest element index the view touches must lie inside the storage.
  const last = offset + t.offset + t.size.reduce((a, s, i) => a + (s - 1) * t.stride[i], 0);
  if (numel > 0 && (last + 1) * type.size > bytes.byteLength)
    throw new VisageError('E_BAD_WEIGHTS', `${source}: ${what} reaches past the end of its storage`);
  const start = offset + t.offset;
  const contiguous = t.size.every(
    (s, d) => s === 1 || t.stride[d] === t.size.slice(d + 1).reduce((a, b) => a * b, 1),
  );
  if (type.dtype === 'float32' && littleEndian && contiguous && (bytes.byteOffset + start * 4) % 4 === 0)
    return new Float32Array(bytes.buffer, bytes.byteOffset + start * 4, numel).slice();
  const out = new Float32Array(numel);
  const idx = new Array<number>(t.size.length).fill(0);
  let src = start;
  for (let k = 0; k < numel; k++) {
    out[k] = read(src);
    // Odometer over the dimensions, last fastest, following the strides.
    for (let d = t.size.length - 1; d >= 0; d--) {
      if (++idx[d] < t.size[d]) {
        src += t.stride[d];
        break;
      }
      src -= (t.size[d] - 1) * t.stride[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** PyTorch's OIHW → our HWIO. */
export function oihwToHwio(src: Float32Array, [O, I, H, W]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  let s = 0;
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[((h * W + w) * I + i) * O + o] = src[s++];
  return out;
}

function stateDictOf(top: unknown, source: string): Map<unknown, unknown> {
  if (top instanceof Opaque) {
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${source} holds a pickled Python object (${top.className}), such as a whole model, not a state_dict; loading it would run ` +
        `Python code. In Python, save the weights with torch.save(model.state_dict(), path)`,
    );
  }
  if (!(top instanceof Map))
    throw new VisageError('E_WRONG_NETWORK', `${source} does not hold a state_dict (a dict of tensors)`);
  const hasFeatures = (m: Map<unknown, unknown>) =>
    [...m.keys()].some((k) => typeof k === 'string' && /^(module\.)?features\./.test(k));
  if (hasFeatures(top)) return top;
  // Training checkpoints wrap the state_dict.
  for (const k of ['state_dict', 'model_state_dict', 'model', 'net']) {
    const inner = top.get(k);
    if (inner instanceof Map && hasFeatures(inner)) return inner;
    if (inner instanceof Opaque) return stateDictOf(inner, source);
  }
  return top;
}

export async function loadTorchVgg19(file: string, opts: { until?: string } = {}): Promise<Vgg19Weights> {
  const source = sourceName(file);
  // `until` may name a conv or a pool layer; only the convolutions up to it are read.
  const wanted = vgg19ConvsUntil(opts.until);

  const dict = stateDictOf(readTorchFile(await readWeightFile(file), source), source);
  const get = (key: string): unknown => dict.get(key) ?? dict.get(`module.${key}`);
  if (get('features.1.running_var') !== undefined) {
    throw new VisageError(
      'E_WRONG_NETWORK',
      `${source} is VGG-19 with batch normalisation (vgg19_bn); use the plain VGG-19 weights (vgg19-dcbb9e9d.pth)`,
    );
  }
  const weights: WeightMap = new Map();
  for (const [c, name] of wanted.entries()) {
    const w = get(`features.${TORCHVISION_VGG19_FEATURES[c]}.weight`);
    const b = get(`features.${TORCHVISION_VGG19_FEATURES[c]}.bias`);
    if (!(w instanceof TensorRef) || !(b instanceof TensorRef)) continue; // checkVgg19Weights names it
    if (w.size.length !== 4)
      throw new VisageError(
        'E_WRONG_NETWORK',
        `${source}: ${name} weight is [${w.size}], not a 2-D convolution`,
      );
    const [O, I, H, W] = w.size;
    weights.set(`${name}/kernel`, {
      shape: [H, W, I, O],
      data: oihwToHwio(tensorValues(w, source, `${name} weight`), w.size),
    });
    weights.set(`${name}/bias`, { shape: b.size, data: tensorValues(b, source, `${name} bias`) });
  }
  checkVgg19Weights(weights, source, wanted[wanted.length - 1]);
  return { weights, preprocessing: 'torch', format: 'pytorch' };
}
