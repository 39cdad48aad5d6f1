import zlib from 'node:zlib';
import { VisageError } from '../../errors.js';

/**
 * A reader of zip archives held in memory (PyTorch's ≥ 1.6 format stores its entries uncompressed, so an
 * entry is a view of the file's buffer; deflated entries are inflated). Reads the central directory,
 * including zip64 records and extra fields, so archives past 4 GB work too.
 */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function bad(source: string, message: string): VisageError {
  return new VisageError('E_BAD_WEIGHTS', `${source}: ${message}`);
}

function u64(buf: Buffer, at: number): number {
  return Number(buf.readBigUInt64LE(at));
}

export function readZipDirectory(buf: Buffer, source: string): Map<string, ZipEntry> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad(source, 'the zip archive is truncated (no central directory at its end)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (
    (count === 0xffff || cdOffset === 0xffffffff) &&
    eocd >= 20 &&
    buf.readUInt32LE(eocd - 20) === 0x07064b50
  ) {
    const z = u64(buf, eocd - 20 + 8);
    if (z + 56 > buf.length || buf.readUInt32LE(z) !== 0x06064b50)
      throw bad(source, 'corrupt zip64 directory');
    count = u64(buf, z + 32);
    cdOffset = u64(buf, z + 48);
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw bad(source, 'corrupt zip directory');
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const e: ZipEntry = {
      name: buf.toString('utf8', p + 46, p + 46 + nameLen),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      localOffset: buf.readUInt32LE(p + 42),
    };
    // Zip64 extra field: the 64-bit values of exactly those fields that hold 0xFFFFFFFF, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = buf.readUInt16LE(x);
      const len = buf.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        const next = (): number => {
          const v = u64(buf, q);
          q += 8;
          return v;
        };
        if (e.size === 0xffffffff) e.size = next();
        if (e.compressedSize === 0xffffffff) e.compressedSize = next();
        if (e.localOffset === 0xffffffff) e.localOffset = next();
      }
      x += 4 + len;
    }
    entries.set(e.name, e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The entry's bytes (a view of `buf` when stored). */
export function zipEntryData(buf: Buffer, e: ZipEntry, source: string): Buffer {
  const h = e.localOffset;
  if (h + 30 > buf.length || buf.readUInt32LE(h) !== 0x04034b50)
    throw bad(source, `corrupt zip entry ${e.name}`);
  const start = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
  if (start + e.compressedSize > buf.length) throw bad(source, `the zip archive is truncated (in ${e.name})`);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) {
    try {
      return zlib.inflateRawSync(raw);
    } catch {
      throw bad(source, `corrupt compressed zip entry ${e.name}`);
    }
  }
  throw new VisageError(
    'E_UNSUPPORTED_FORMAT',
    `${source}: zip entry ${e.name} uses compression method ${e.method}`,
  );
}
