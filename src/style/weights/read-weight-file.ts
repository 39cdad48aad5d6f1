import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../../errors.js';

/** A weights path's stats (files or folders), E_FILE_NOT_FOUND when there is nothing there. */
export function statWeightPath(file: string): fs.Stats {
  try {
    return fs.statSync(file);
  } catch (e) {
    throw new VisageError('E_FILE_NOT_FOUND', `weights file not found: ${file}`, { file }, { cause: e });
  }
}

/** The first bytes of a weights file of `size` bytes (for magic numbers), E_EMPTY_FILE when it has none. */
export function readWeightHead(file: string, size: number, max = 1 << 16): Buffer {
  if (size === 0) throw new VisageError('E_EMPTY_FILE', `weights file ${file} is empty`, { file });
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, max));
    fs.readSync(fd, head, 0, head.length, 0);
    return head;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a whole weight file into one Buffer (the formats here need random access; the largest public
 * VGG-19 file is ~550 MB, which fits), with the stable errors for a missing, unreadable or empty file.
 */
export async function readWeightFile(file: string): Promise<Buffer> {
  const stat = statWeightPath(file);
  if (!stat.isFile()) throw new VisageError('E_FILE_NOT_FOUND', `${file} is not a file`, { file });
  if (stat.size === 0) throw new VisageError('E_EMPTY_FILE', `weights file ${file} is empty`, { file });
  return fs.promises.readFile(file);
}

/** The name used in messages: the file's base name. */
export function sourceName(file: string): string {
  return path.basename(file);
}
