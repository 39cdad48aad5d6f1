import fs from 'node:fs/promises';
import path from 'node:path';
import { VisageError } from '../../errors.js';

/**
 * Reads a whole weight file into one Buffer (the formats here need random access; the largest public
 * VGG-19 file is ~550 MB, which fits), with the stable errors for a missing, unreadable or empty file.
 */
export async function readWeightFile(file: string): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    throw new VisageError('E_FILE_NOT_FOUND', `weights file not found: ${file}`, { file }, { cause: e });
  }
  if (!stat.isFile()) throw new VisageError('E_FILE_NOT_FOUND', `${file} is not a file`, { file });
  if (stat.size === 0) throw new VisageError('E_EMPTY_FILE', `weights file ${file} is empty`, { file });
  return fs.readFile(file);
}

/** The name used in messages: the file's base name. */
export function sourceName(file: string): string {
  return path.basename(file);
}
