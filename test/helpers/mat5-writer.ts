import zlib from 'node:zlib';

/**
 * A writer of MATLAB Level 5 MAT-files, for tests: numeric (with a narrower stored type if asked, as MATLAB
 * does), char, cell and struct arrays; optional zlib compression per variable; either byte order; small
 * data elements for ≤ 4-byte payloads like MATLAB's own writer.
 */
export type MatIn =
  | {
      numeric: ArrayLike<number>;
      dims: number[];
      /** Array class (default single). */
      cls?: 'single' | 'double' | 'uint8';
      /** Stored data type (default: the class's own). */
      stored?: 'single' | 'double' | 'uint8' | 'int16';
    }
  | { char: string }
  | { cell: MatIn[]; dims?: number[] }
  | { struct: Record<string, MatIn>[]; dims?: number[]; fields?: string[] };

const MX_CLASS = { cell: 1, struct: 2, char: 4, double: 6, single: 7, uint8: 9 };
const MI_TYPE = {
  int8: 1,
  uint8: 2,
  int16: 3,
  uint16: 4,
  int32: 5,
  uint32: 6,
  single: 7,
  double: 9,
  matrix: 14,
};
const MI_WIDTH: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8 };

export interface Mat5WriteOptions {
  compress?: boolean;
  littleEndian?: boolean;
}

export function writeMat5(vars: Record<string, MatIn>, opts: Mat5WriteOptions = {}): Buffer {
  const le = opts.littleEndian ?? true;
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, written by visage tests', 0, 'latin1');
  header.fill(0, 116, 124);
  if (le) header.writeUInt16LE(0x0100, 124);
  else header.writeUInt16BE(0x0100, 124);
  header.write(le ? 'IM' : 'MI', 126, 'latin1');
  const parts: Buffer[] = [header];
  for (const [name, v] of Object.entries(vars)) {
    const m = matrix(name, v, le);
    if (opts.compress) {
      const z = zlib.deflateSync(m);
      parts.push(tag(15, z.length, le), z);
    } else parts.push(m);
  }
  return Buffer.concat(parts);
}

function u32(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
}

function tag(type: number, size: number, le: boolean): Buffer {
  return Buffer.concat([u32(type, le), u32(size, le)]);
}

/** One data element (the small form when the payload fits in 4 bytes, as MATLAB writes it). */
function dataElement(type: number, payload: Buffer, le: boolean): Buffer {
  if (payload.length <= 4 && payload.length > 0) {
    const head = u32(((payload.length << 16) | type) >>> 0, le);
    return Buffer.concat([head, payload, Buffer.alloc(4 - payload.length)]);
  }
  const pad = (8 - (payload.length % 8)) % 8;
  return Buffer.concat([tag(type, payload.length, le), payload, Buffer.alloc(pad)]);
}

function values(type: number, vals: ArrayLike<number>, le: boolean): Buffer {
  const w = MI_WIDTH[type];
  const b = Buffer.alloc(vals.length * w);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const put: Record<number, (at: number, v: number) => void> = {
    [MI_TYPE.single]: (at, v) => dv.setFloat32(at, v, le),
    [MI_TYPE.double]: (at, v) => dv.setFloat64(at, v, le),
    [MI_TYPE.int8]: (at, v) => dv.setInt8(at, v),
    [MI_TYPE.uint8]: (at, v) => dv.setUint8(at, v),
    [MI_TYPE.int16]: (at, v) => dv.setInt16(at, v, le),
    [MI_TYPE.uint16]: (at, v) => dv.setUint16(at, v, le),
    [MI_TYPE.int32]: (at, v) => dv.setInt32(at, v, le),
    [MI_TYPE.uint32]: (at, v) => dv.setUint32(at, v, le),
  };
  for (let i = 0; i < vals.length; i++) put[type](i * w, vals[i]);
  return b;
}

function matrix(name: string, v: MatIn, le: boolean): Buffer {
  let cls: number;
  let dims: number[];
  const body: Buffer[] = [];
  if ('numeric' in v) {
    const c = v.cls ?? 'single';
    cls = MX_CLASS[c];
    dims = v.dims;
    body.push(dataElement(MI_TYPE[v.stored ?? c], values(MI_TYPE[v.stored ?? c], v.numeric, le), le));
  } else if ('char' in v) {
    cls = MX_CLASS.char;
    dims = [1, v.char.length];
    const codes = Array.from(v.char, (ch) => ch.charCodeAt(0));
    body.push(dataElement(MI_TYPE.uint16, values(MI_TYPE.uint16, codes, le), le));
  } else if ('cell' in v) {
    cls = MX_CLASS.cell;
    dims = v.dims ?? [1, v.cell.length];
    for (const c of v.cell) body.push(matrix('', c, le));
  } else {
    cls = MX_CLASS.struct;
    dims = v.dims ?? [1, v.struct.length];
    const fields = v.fields ?? Object.keys(v.struct[0] ?? {});
    const len = 32;
    body.push(dataElement(MI_TYPE.int32, values(MI_TYPE.int32, [len], le), le));
    const names = Buffer.alloc(len * fields.length);
    fields.forEach((f, i) => names.write(f, i * len, 'latin1'));
    body.push(dataElement(MI_TYPE.int8, names, le));
    for (const rec of v.struct)
      for (const f of fields)
        body.push(matrix('', rec[f] ?? { numeric: [], dims: [0, 0], cls: 'double' }, le));
  }
  const content = Buffer.concat([
    dataElement(MI_TYPE.uint32, values(MI_TYPE.uint32, [cls, 0], le), le),
    dataElement(MI_TYPE.int32, values(MI_TYPE.int32, dims, le), le),
    dataElement(MI_TYPE.int8, Buffer.from(name, 'latin1'), le),
    ...body,
  ]);
  return Buffer.concat([tag(MI_TYPE.matrix, content.length, le), content]);
}

/** A column-major array of dims from f(indices…), as MATLAB would hold it. */
export function colMajor(dims: number[], f: (...idx: number[]) => number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    out[k] = f(...idx);
    for (let d = 0; d < dims.length; d++) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
