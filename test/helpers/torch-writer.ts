/**
 * Writers of PyTorch files for tests: a protocol-2 pickler for the few Python values a state_dict needs, and
 * the two torch.save containers — the zip archive (torch ≥ 1.6: `<prefix>/data.pkl`, `<prefix>/data/<key>`,
 * `version`, `byteorder`, entries stored) and the legacy stream (magic, protocol 1001, sys_info, object
 * pickle, sorted storage keys, then per storage an int64 element count and the raw little-endian bytes).
 */

/** Python values: tuples are JS arrays; the rest are tagged objects. */
export type Py =
  | null
  | boolean
  | number
  | bigint
  | string
  /** A Python 2 `str` (BINSTRING/SHORT_BINSTRING), as torch wrote under Python 2. */
  | { py2str: string }
  | Py[]
  | { list: Py[] }
  | { dict: [Py, Py][] }
  | { global: [string, string] }
  /** f(*args), then SETITEMS of `items` (how OrderedDict is pickled). */
  | { reduce: [Py, Py[]]; items?: [Py, Py][] }
  | { build: [Py, Py] }
  | { persid: Py };

export function orderedDict(items: [string, Py][]): Py {
  return { reduce: [{ global: ['collections', 'OrderedDict'] }, []], items };
}

class Pickler {
  private parts: number[] = [];

  byte(...b: number[]): void {
    this.parts.push(...b);
  }

  u32(v: number): void {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }

  raw(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }

  value(v: Py): void {
    if (v === null) this.byte(0x4e);
    else if (v === true) this.byte(0x88);
    else if (v === false) this.byte(0x89);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) this.byte(0x4b, v);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536)
      this.byte(0x4d, v & 0xff, v >> 8);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a);
      this.u32(v >>> 0);
    } else if (typeof v === 'number') {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      this.byte(0x47);
      this.raw(b);
    } else if (typeof v === 'bigint') {
      const bytes: number[] = [];
      let x = v;
      while (x !== 0n && x !== -1n) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
      }
      if (bytes.length === 0 || (bytes[bytes.length - 1] & 0x80) !== (v < 0n ? 0x80 : 0))
        bytes.push(v < 0n ? 0xff : 0);
      this.byte(0x8a, bytes.length, ...bytes);
    } else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      this.byte(0x58);
      this.u32(b.length);
      this.raw(b);
    } else if (typeof v === 'object' && 'py2str' in v) {
      const b = Buffer.from(v.py2str, 'latin1');
      if (b.length < 256) this.byte(0x55, b.length);
      else {
        this.byte(0x54);
        this.u32(b.length);
      }
      this.raw(b);
    } else if (Array.isArray(v)) {
      this.byte(0x28);
      for (const x of v) this.value(x);
      this.byte(0x74);
    } else if ('list' in v) {
      this.byte(0x5d, 0x28);
      for (const x of v.list) this.value(x);
      this.byte(0x65);
    } else if ('dict' in v) {
      this.byte(0x7d, 0x28);
      for (const [k, x] of v.dict) {
        this.value(k);
        this.value(x);
      }
      this.byte(0x75);
    } else if ('global' in v) {
      this.byte(0x63);
      this.raw(Buffer.from(`${v.global[0]}\n${v.global[1]}\n`, 'latin1'));
    } else if ('reduce' in v) {
      this.value(v.reduce[0]);
      this.value(v.reduce[1]);
      this.byte(0x52);
      if (v.items) {
        this.byte(0x28);
        for (const [k, x] of v.items) {
          this.value(k);
          this.value(x);
        }
        this.byte(0x75);
      }
    } else if ('build' in v) {
      this.value(v.build[0]);
      this.value(v.build[1]);
      this.byte(0x62);
    } else {
      this.value(v.persid);
      this.byte(0x51);
    }
  }

  done(): Buffer {
    this.byte(0x2e);
    return Buffer.from(this.parts);
  }
}

/** A pickle (protocol 2) of `v`. */
export function pickle(v: Py): Buffer {
  const p = new Pickler();
  p.byte(0x80, 2);
  p.value(v);
  return p.done();
}

/** One tensor of a state_dict: a strided view of a named storage. */
export interface TensorSpec {
  storage: string;
  offset?: number;
  size: number[];
  /** Default: contiguous (row-major). */
  stride?: number[];
}

export interface StorageSpec {
  /** Storage class name, e.g. FloatStorage / DoubleStorage / LongStorage. */
  type?: string;
  data: Float32Array | Float64Array | BigInt64Array;
}

/** Row-major strides of a tensor of `size`. */
export function contiguous(size: number[]): number[] {
  const s = new Array<number>(size.length);
  let acc = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= size[d];
  }
  return s;
}

function defaultType(data: StorageSpec['data']): string {
  return data instanceof Float64Array
    ? 'DoubleStorage'
    : data instanceof BigInt64Array
      ? 'LongStorage'
      : 'FloatStorage';
}

function tensorPy(t: TensorSpec, storages: Record<string, StorageSpec>, legacy: boolean): Py {
  const s = storages[t.storage];
  const type = s.type ?? defaultType(s.data);
  const pid: Py = legacy
    ? ['storage', { global: ['torch', type] }, t.storage, 'cpu', s.data.length, null]
    : ['storage', { global: ['torch', type] }, t.storage, 'cpu', s.data.length];
  return {
    reduce: [
      { global: ['torch._utils', '_rebuild_tensor_v2'] },
      [{ persid: pid }, t.offset ?? 0, t.size, t.stride ?? contiguous(t.size), false, { dict: [] }],
    ],
  };
}

/** The object pickle of an OrderedDict state_dict. */
export function stateDictPy(
  tensors: [string, TensorSpec][],
  storages: Record<string, StorageSpec>,
  legacy: boolean,
): Py {
  return orderedDict(tensors.map(([k, t]) => [k, tensorPy(t, storages, legacy)]));
}

function storageBytes(s: StorageSpec): Buffer {
  return Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength);
}

// ---- zip (stored entries) ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function writeZip(files: [string, Buffer][]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(n.length, 26);
    locals.push(h, n, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(files.length, 8);
  e.writeUInt16LE(files.length, 10);
  e.writeUInt32LE(cd.length, 12);
  e.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, e]);
}

/** torch.save(obj) in the zip format; `obj` is built with persistent ids for `storages`. */
export function torchSaveZip(obj: Py, storages: Record<string, StorageSpec>, prefix = 'archive'): Buffer {
  return writeZip([
    [`${prefix}/data.pkl`, pickle(obj)],
    ...Object.entries(storages).map(([k, s]): [string, Buffer] => [`${prefix}/data/${k}`, storageBytes(s)]),
    [`${prefix}/version`, Buffer.from('3\n')],
    [`${prefix}/byteorder`, Buffer.from('little')],
  ]);
}

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** torch.save(obj, _use_new_zipfile_serialization=False). */
export function torchSaveLegacy(obj: Py, storages: Record<string, StorageSpec>): Buffer {
  const keys = Object.keys(storages).sort();
  const sysInfo: Py = {
    dict: [
      ['protocol_version', 1001],
      ['little_endian', true],
      [
        'type_sizes',
        {
          dict: [
            ['short', 2],
            ['int', 4],
            ['long', 4],
          ],
        },
      ],
    ],
  };
  const parts = [pickle(LEGACY_MAGIC), pickle(1001), pickle(sysInfo), pickle(obj), pickle({ list: keys })];
  for (const k of keys) {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(storages[k].data.length));
    parts.push(n, storageBytes(storages[k]));
  }
  return Buffer.concat(parts);
}

/** Convenience: a state_dict file of either format. */
export function torchSaveStateDict(
  tensors: [string, TensorSpec][],
  storages: Record<string, StorageSpec>,
  format: 'zip' | 'legacy',
): Buffer {
  const obj = stateDictPy(tensors, storages, format === 'legacy');
  return format === 'zip' ? torchSaveZip(obj, storages) : torchSaveLegacy(obj, storages);
}
