/**
 * File-system edges in one place: inputs are read only when they are regular files under a byte limit
 * (so `/dev/zero` or a FIFO cannot grow memory or hang the process), and outputs are checked before the
 * work starts (so a mistyped `-o` fails in milliseconds with an input code, not after minutes of work).
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from './errors.js';

/** Largest input file read by default: 256 MiB (VISAGE_MAX_BYTES overrides), above any sane photo. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** The byte limit from VISAGE_MAX_BYTES (a positive integer), else 256 MiB. */
export function envMaxBytes(): number {
  const raw = process.env.VISAGE_MAX_BYTES;
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_BYTES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new VisageError('E_BAD_OPTION', `VISAGE_MAX_BYTES must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * Stat of an existing regular file, with stable codes for what it is instead: missing (E_FILE_NOT_FOUND),
 * a directory, device, FIFO or socket (E_NOT_A_FILE), larger than `maxBytes` (E_FILE_TOO_LARGE).
 * stat() never blocks on a FIFO, unlike open().
 */
export function statInputFile(file: string, what = 'file', maxBytes = envMaxBytes()): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new VisageError('E_FILE_NOT_FOUND', `${what} not found: ${file}`, { path: file }, { cause: e });
    throw new VisageError(
      'E_BAD_INPUT',
      `cannot read ${what} ${file}: ${(e as Error).message}`,
      { path: file, errno: code },
      { cause: e },
    );
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : 'not a regular file (a device, FIFO or socket)';
    throw new VisageError('E_NOT_A_FILE', `${what} ${file} is ${kind}`, { path: file });
  }
  if (st.size > maxBytes) {
    throw new VisageError(
      'E_FILE_TOO_LARGE',
      `${what} ${file} is ${st.size} bytes, over the limit of ${maxBytes} (VISAGE_MAX_BYTES)`,
      { path: file, bytes: st.size, maxBytes },
    );
  }
  return st;
}

/** The bytes of a regular file, after statInputFile's checks. */
export function readInputFile(file: string, what = 'file', maxBytes = envMaxBytes()): Buffer {
  statInputFile(file, what, maxBytes);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new VisageError(
      'E_BAD_INPUT',
      `cannot read ${what} ${file}: ${(e as Error).message}`,
      { path: file, errno: (e as NodeJS.ErrnoException).code },
      { cause: e },
    );
  }
}

/**
 * An existing directory to read from: E_FILE_NOT_FOUND / E_NOT_A_DIRECTORY otherwise, or one code for
 * both where a caller's contract already has one (a dataset root is E_BAD_DATASET).
 */
export function assertInputDir(dir: string, what = 'folder', code?: 'E_BAD_DATASET'): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new VisageError(code ?? 'E_FILE_NOT_FOUND', `${what} not found: ${dir}`, { path: dir });
  if (!st.isDirectory())
    throw new VisageError(code ?? 'E_NOT_A_DIRECTORY', `${what} ${dir} is not a directory`, { path: dir });
}

/**
 * An output file path that can be written: not a directory, and its parent folder exists (or can be made)
 * and is writable. Checked before the work; the write itself still goes through a temp file and rename.
 */
export function assertOutputFile(file: string, what = 'output file'): void {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (st?.isDirectory())
    throw new VisageError('E_OUTPUT_PATH', `${what} ${file} is a directory; give a file name`, {
      path: file,
    });
  if (st && !st.isFile())
    throw new VisageError('E_OUTPUT_PATH', `${what} ${file} is not a regular file`, { path: file });
  assertOutputDir(path.dirname(path.resolve(file)), `folder of ${what} ${file}`);
}

/** An output folder: made if missing, refused if a file stands there or it cannot be written. */
export function assertOutputDir(dir: string, what = 'output folder'): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory())
    throw new VisageError('E_OUTPUT_PATH', `${what} ${dir} is a file, not a folder`, { path: dir });
  try {
    if (!st) fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new VisageError(
      'E_OUTPUT_PATH',
      `${what} ${dir} cannot be written: ${(e as Error).message}`,
      { path: dir, errno: (e as NodeJS.ErrnoException).code },
      { cause: e },
    );
  }
}
