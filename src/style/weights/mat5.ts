import zlib from 'node:zlib';
import { VisageError } from '../../errors.js';

/**
 * A reader of MATLAB Level 5 MAT-files (what MATLAB's `save` and scipy.io.savemat write; not v7.3, which is
 * HDF5): the header, data elements (including the 4-byte "small data element" form), miCOMPRESSED (zlib)
 * and miMATRIX of the classes a network file holds: numeric, char, cell and struct. Both byte orders.
 * Numeric payloads stay where they are in the file's buffer until asked for, so a 500 MB file is not copied
 * while its tree is built.
 */

/** MATLAB array classes (the low byte of the array-flags word). */
export const MX = {
  CELL: 1,
  STRUCT: 2,
  OBJECT: 3,
  CHAR: 4,
  SPARSE: 5,
  DOUBLE: 6,
  SINGLE: 7,
  INT8: 8,
  UINT8: 9,
  INT16: 10,
  UINT16: 11,
  INT32: 12,
  UINT32: 13,
  INT64: 14,
  UINT64: 15,
} as const;

/** Data element types. */
const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;

const MI_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };

/** A numeric array whose values are read on demand (column-major, MATLAB's order). */
export interface MatNumeric {
  kind: 'numeric';
  mxClass: number;
  dims: number[];
  /** Number of elements. */
  numel: number;
  /** The values as float32 (a view into the file's buffer when they are stored so, else a converted copy). */
  float32(): Float32Array;
  /** The values as float64 (always a copy). */
  float64(): Float64Array;
}

export interface MatChar {
  kind: 'char';
  dims: number[];
  /** The characters in storage (column-major) order: the string itself for a 1×N row. */
  text: string;
}

export interface MatCell {
  kind: 'cell';
  dims: number[];
  /** Elements in column-major order. */
  cells: MatValue[];
}

export interface MatStruct {
  kind: 'struct';
  dims: number[];
  fieldNames: string[];
  /** One record per element, column-major. */
  elements: Map<string, MatValue>[];
}

/** Classes a network file does not need (sparse, objects, function handles): kept as a marker. */
export interface MatOther {
  kind: 'other';
  mxClass: number;
  dims: number[];
}

export type MatValue = MatNumeric | MatChar | MatCell | MatStruct | MatOther;

export interface MatFile {
  littleEndian: boolean;
  /** The 116-byte descriptive text of the header ("MATLAB 5.0 MAT-file, …"). */
  description: string;
  variables: Map<string, MatValue>;
}

function bad(source: string, message: string, cause?: unknown): VisageError {
  return new VisageError('E_BAD_WEIGHTS', `${source}: ${message}`, undefined, cause ? { cause } : undefined);
}

/** Throws E_UNSUPPORTED_FORMAT unless `buf` starts like a Level 5 MAT-file; returns its byte order. */
export function matHeader(buf: Buffer, source: string): { littleEndian: boolean; description: string } {
  const description = buf.toString('latin1', 0, Math.min(116, buf.length)).replace(/[\0 ]+$/, '');
  if (buf.length >= 128) {
    const endian = buf.toString('latin1', 126, 128);
    if (endian === 'IM' || endian === 'MI') {
      const littleEndian = endian === 'IM';
      const version = littleEndian ? buf.readUInt16LE(124) : buf.readUInt16BE(124);
      if (version === 0x0200 || /MATLAB 7\.3/.test(description)) {
        throw new VisageError(
          'E_UNSUPPORTED_FORMAT',
          `${source} is a MATLAB v7.3 (HDF5) MAT-file; save it with save(..., '-v7') or convert it with scipy`,
        );
      }
      if (version !== 0x0100) throw bad(source, `unknown MAT-file version 0x${version.toString(16)}`);
      return { littleEndian, description };
    }
  }
  throw new VisageError(
    'E_UNSUPPORTED_FORMAT',
    `${source} is not a MATLAB Level 5 MAT-file (no 'MATLAB 5.0 MAT-file' header)`,
  );
}

interface Tag {
  type: number;
  size: number;
  /** Offset of the element's data. */
  data: number;
  /** Offset of the next element. */
  next: number;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    readonly source: string,
  ) {}

  u32(at: number): number {
    if (at + 4 > this.buf.length) throw bad(this.source, 'the file is truncated');
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  tag(at: number, end: number): Tag {
    const first = this.u32(at);
    // Small data element: the byte count sits in the upper half of the first word, data in the second.
    if (first >>> 16 !== 0) {
      const size = first >>> 16;
      if (size > 4) throw bad(this.source, `corrupt small data element at byte ${at}`);
      if (at + 8 > end) throw bad(this.source, 'the file is truncated');
      return { type: first & 0xffff, size, data: at + 4, next: at + 8 };
    }
    const size = this.u32(at + 4);
    const data = at + 8;
    if (data + size > end) {
      throw bad(
        this.source,
        end === this.buf.length
          ? `the file is truncated (an element of ${size} bytes at byte ${at} runs past its end)`
          : `corrupt data element at byte ${at}`,
      );
    }
    // Compressed elements are not padded (MATLAB and scipy agree); every other one is to 8 bytes.
    const next = first === MI.COMPRESSED ? data + size : data + Math.ceil(size / 8) * 8;
    return { type: first, size, data, next: Math.min(next, end) };
  }

  ints(t: Tag): number[] {
    const n = MI_SIZE[t.type];
    if (!n || t.type === MI.SINGLE || t.type === MI.DOUBLE)
      throw bad(this.source, `expected integers, found data type ${t.type}`);
    const out: number[] = [];
    for (let i = 0; i < t.size / n; i++) out.push(readScalar(this.buf, t.type, t.data + i * n, this.le));
    return out;
  }

  /** Parses one miMATRIX element's content (between `start` and `end`). */
  matrix(start: number, end: number): { name: string; value: MatValue } {
    if (start === end) return { name: '', value: emptyDouble() };
    const flagsTag = this.tag(start, end);
    if (flagsTag.type !== MI.UINT32 || flagsTag.size < 4) throw bad(this.source, 'corrupt array flags');
    const flags = this.u32(flagsTag.data);
    const mxClass = flags & 0xff;
    const dimsTag = this.tag(flagsTag.next, end);
    const dims = this.ints(dimsTag);
    if (dims.length < 2 || dims.some((d) => d < 0)) throw bad(this.source, 'corrupt array dimensions');
    const nameTag = this.tag(dimsTag.next, end);
    const name = this.buf.toString('latin1', nameTag.data, nameTag.data + nameTag.size);
    const numel = dims.reduce((a, b) => a * b, 1);
    let at = nameTag.next;

    if (mxClass === MX.CELL) {
      const cells: MatValue[] = [];
      for (let i = 0; i < numel; i++) {
        const t = this.tag(at, end);
        if (t.type !== MI.MATRIX) throw bad(this.source, 'corrupt cell array element');
        cells.push(this.matrix(t.data, t.data + t.size).value);
        at = t.next;
      }
      return { name, value: { kind: 'cell', dims, cells } };
    }
    if (mxClass === MX.STRUCT) {
      const lenTag = this.tag(at, end);
      const fieldLen = this.ints(lenTag)[0];
      const namesTag = this.tag(lenTag.next, end);
      if (!fieldLen || namesTag.size % fieldLen !== 0) throw bad(this.source, 'corrupt struct field names');
      const fieldNames: string[] = [];
      for (let p = 0; p < namesTag.size; p += fieldLen) {
        const raw = this.buf.subarray(namesTag.data + p, namesTag.data + p + fieldLen);
        const z = raw.indexOf(0);
        fieldNames.push(raw.toString('latin1', 0, z < 0 ? raw.length : z));
      }
      at = namesTag.next;
      const elements: Map<string, MatValue>[] = [];
      for (let i = 0; i < numel; i++) {
        const rec = new Map<string, MatValue>();
        for (const f of fieldNames) {
          const t = this.tag(at, end);
          if (t.type !== MI.MATRIX) throw bad(this.source, `corrupt struct field ${f}`);
          rec.set(f, this.matrix(t.data, t.data + t.size).value);
          at = t.next;
        }
        elements.push(rec);
      }
      return { name, value: { kind: 'struct', dims, fieldNames, elements } };
    }
    if (mxClass === MX.CHAR) {
      if (numel === 0) return { name, value: { kind: 'char', dims, text: '' } };
      const t = this.tag(at, end);
      return { name, value: { kind: 'char', dims, text: this.text(t) } };
    }
    if (mxClass >= MX.DOUBLE && mxClass <= MX.UINT64) {
      if (numel === 0) return { name, value: numeric(this, mxClass, dims, MI.DOUBLE, at, 0) };
      const t = this.tag(at, end);
      const width = MI_SIZE[t.type];
      if (!width || t.size !== numel * width)
        throw bad(this.source, `array "${name}" holds ${t.size} bytes of type ${t.type} for ${numel} values`);
      // A complex array's imaginary part follows; it is ignored (no network weight is complex).
      return { name, value: numeric(this, mxClass, dims, t.type, t.data, numel) };
    }
    return { name, value: { kind: 'other', mxClass, dims } };
  }

  text(t: Tag): string {
    const b = this.buf.subarray(t.data, t.data + t.size);
    if (t.type === MI.UTF8 || t.type === MI.UINT8 || t.type === MI.INT8) return b.toString('utf8');
    if (t.type === MI.UINT16 || t.type === MI.UTF16 || t.type === MI.INT16) {
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2)
        s += String.fromCharCode(this.le ? b.readUInt16LE(i) : b.readUInt16BE(i));
      return s;
    }
    if (t.type === MI.UTF32 || t.type === MI.UINT32 || t.type === MI.INT32) {
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4)
        s += String.fromCodePoint(this.le ? b.readUInt32LE(i) : b.readUInt32BE(i));
      return s;
    }
    throw bad(this.source, `unexpected character data type ${t.type}`);
  }
}

function readScalar(buf: Buffer, type: number, at: number, le: boolean): number {
  switch (type) {
    case MI.INT8:
      return buf.readInt8(at);
    case MI.UINT8:
      return buf.readUInt8(at);
    case MI.INT16:
      return le ? buf.readInt16LE(at) : buf.readInt16BE(at);
    case MI.UINT16:
      return le ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
    case MI.INT32:
      return le ? buf.readInt32LE(at) : buf.readInt32BE(at);
    case MI.UINT32:
      return le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    case MI.SINGLE:
      return le ? buf.readFloatLE(at) : buf.readFloatBE(at);
    case MI.DOUBLE:
      return le ? buf.readDoubleLE(at) : buf.readDoubleBE(at);
    case MI.INT64:
      return Number(le ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at));
    case MI.UINT64:
      return Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
    default:
      throw new Error(`unreachable data type ${type}`);
  }
}

function emptyDouble(): MatNumeric {
  return {
    kind: 'numeric',
    mxClass: MX.DOUBLE,
    dims: [0, 0],
    numel: 0,
    float32: () => new Float32Array(0),
    float64: () => new Float64Array(0),
  };
}

function numeric(
  r: Reader,
  mxClass: number,
  dims: number[],
  type: number,
  at: number,
  numel: number,
): MatNumeric {
  const { buf, le } = r;
  const width = MI_SIZE[type];
  const convert = <T extends Float32Array | Float64Array>(out: T): T => {
    for (let i = 0; i < numel; i++) out[i] = readScalar(buf, type, at + i * width, le);
    return out;
  };
  return {
    kind: 'numeric',
    mxClass,
    dims,
    numel,
    float32: () => {
      // Zero-copy when the stored values already are aligned little-endian float32 (the usual case).
      if (type === MI.SINGLE && le && (buf.byteOffset + at) % 4 === 0)
        return new Float32Array(buf.buffer, buf.byteOffset + at, numel);
      return convert(new Float32Array(numel));
    },
    float64: () => convert(new Float64Array(numel)),
  };
}

/** Parses a whole Level 5 MAT-file held in `buf`. */
export function readMat5(buf: Buffer, source: string): MatFile {
  const { littleEndian, description } = matHeader(buf, source);
  const variables = new Map<string, MatValue>();
  const top = new Reader(buf, littleEndian, source);
  let at = 128;
  while (at + 8 <= buf.length) {
    const t = top.tag(at, buf.length);
    if (t.type === MI.COMPRESSED) {
      let inner: Buffer;
      try {
        inner = zlib.inflateSync(buf.subarray(t.data, t.data + t.size));
      } catch (e) {
        throw bad(source, `a compressed variable cannot be inflated (${(e as Error).message})`, e);
      }
      const r = new Reader(inner, littleEndian, source);
      const it = r.tag(0, inner.length);
      if (it.type !== MI.MATRIX) throw bad(source, `compressed element holds data type ${it.type}`);
      const { name, value } = r.matrix(it.data, it.data + it.size);
      variables.set(name, value);
    } else if (t.type === MI.MATRIX) {
      const { name, value } = top.matrix(t.data, t.data + t.size);
      variables.set(name, value);
    } else {
      throw bad(source, `unexpected top-level data type ${t.type} at byte ${at}`);
    }
    at = t.next;
  }
  if (at < buf.length && buf.subarray(at).some((b) => b !== 0)) throw bad(source, 'the file is truncated');
  return { littleEndian, description, variables };
}

/** Field `name` of a 1×1 struct (or of element `i` of a struct array). */
export function field(v: MatValue | undefined, name: string, i = 0): MatValue | undefined {
  return v?.kind === 'struct' ? v.elements[i]?.get(name) : undefined;
}

/** The text of a char array, or undefined. */
export function text(v: MatValue | undefined): string | undefined {
  return v?.kind === 'char' ? v.text : undefined;
}
