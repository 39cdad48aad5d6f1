import crypto from 'node:crypto';
/**
 * Verification pair lists: reading LFW's pairs.txt and a simple CSV, and generating LFW-style folds from a
 * folder-per-identity dataset (for data that ships without a protocol).
 *
 * LFW pairs.txt (View 2): line 1 is "<folds> <n>" (e.g. "10 300"); then for each fold, n same-person lines
 * "name i j" followed by n different-person lines "name1 i name2 j", fields separated by tabs or spaces.
 * Indices are 1-based and name the image `<root>/<name>/<name>_<iiii>.jpg` (4 digits, zero padded).
 * The View 1 files (pairsDevTrain.txt, pairsDevTest.txt) have a one-number header "<n>": they are read as
 * ONE fold of n same + n different pairs — not as 10 folds, which is what that layout actually is.
 *
 * CSV: one pair per line, `img1,img2,same[,fold]`, optional header naming those columns (then in any
 * order). `same` is 1/0, true/false, yes/no or same/different. Relative paths are taken from `root`
 * (default: the CSV's folder). Fields may be double-quoted (RFC 4180) but not span lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../errors.js';
import { mulberry32 } from '../util/random.js';

/** Two images and whether they show the same person; `fold` for cross-validation. */
export interface ImagePair {
  a: string;
  b: string;
  same: boolean;
  /** Fold id, 0-based. */
  fold: number;
  /** 1-based line in the source file (0 for generated pairs). */
  line: number;
  /** Identities, when the format names them (LFW, generated). */
  idA?: string;
  idB?: string;
}

/** A list of labelled pairs and the folds they are split into. */
export interface PairList {
  format: 'lfw' | 'csv' | 'generated';
  /** Number of distinct folds (1 when the source has none). */
  folds: number;
  pairs: ImagePair[];
  /** File it came from (or the dataset root for generated lists). */
  source: string;
}

export interface DatasetIssue {
  line: number;
  message: string;
}

const MAX_ISSUES = 20;

/** Collects problems so one E_BAD_DATASET can list several lines at once. */
class Issues {
  readonly list: DatasetIssue[] = [];
  constructor(private readonly file: string) {}
  add(line: number, message: string): void {
    if (this.list.length < MAX_ISSUES) this.list.push({ line, message });
  }
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const shown = this.list
      .slice(0, 5)
      .map((i) => `  line ${i.line}: ${i.message}`)
      .join('\n');
    const more = this.list.length > 5 ? `\n  … and ${this.list.length - 5} more` : '';
    throw new VisageError('E_BAD_DATASET', `${this.file}: malformed pair list\n${shown}${more}`, {
      file: this.file,
      issues: this.list,
    });
  }
  fail(line: number, message: string): never {
    this.add(line, message);
    this.throwIfAny();
    throw new Error('unreachable');
  }
}

/** `<root>/<name>/<name>_<iiii>.jpg`, the LFW file layout. */
export function lfwImagePath(root: string, name: string, index: number): string {
  return path.join(root, name, `${name}_${String(index).padStart(4, '0')}.jpg`);
}

function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

const POSITIVE_INT = /^[1-9]\d*$/;

export function parseLfwPairs(text: string, opts: { root: string; file?: string }): PairList {
  const file = opts.file ?? '<pairs>';
  const issues: Issues = new Issues(file);
  const lines = splitLines(text);
  if (lines.length === 0) issues.fail(1, 'empty file');
  const head = lines[0].trim().split(/\s+/);
  let folds: number;
  let n: number;
  if (head.length === 2 && POSITIVE_INT.test(head[0]) && POSITIVE_INT.test(head[1])) {
    folds = Number(head[0]);
    n = Number(head[1]);
  } else if (head.length === 1 && POSITIVE_INT.test(head[0])) {
    folds = 1;
    n = Number(head[0]);
  } else {
    issues.fail(
      1,
      `header must be "<folds> <pairs per class>" or "<pairs per class>", got "${lines[0].trim()}"`,
    );
  }
  const expected = folds * 2 * n;
  const pairs: ImagePair[] = [];
  for (let k = 0; k < expected; k++) {
    const lineNo = k + 2;
    if (k + 1 >= lines.length) {
      issues.add(
        lineNo,
        `file ends after ${lines.length - 1} pair lines; the header promises ${expected} (${folds} × (${n} same + ${n} different))`,
      );
      break;
    }
    const fold = Math.floor(k / (2 * n));
    const same = k % (2 * n) < n;
    const t = lines[k + 1].trim().split(/\s+/);
    if (same) {
      if (t.length !== 3 || t[0] === '') {
        issues.add(
          lineNo,
          `fold ${fold + 1}: expected a same-person line "name i j", got ${t.length} fields`,
        );
        continue;
      }
      const [name, i, j] = t;
      if (!POSITIVE_INT.test(i) || !POSITIVE_INT.test(j)) {
        issues.add(lineNo, `image numbers must be positive integers, got "${i}" and "${j}"`);
        continue;
      }
      pairs.push({
        a: lfwImagePath(opts.root, name, Number(i)),
        b: lfwImagePath(opts.root, name, Number(j)),
        same: true,
        fold,
        line: lineNo,
        idA: name,
        idB: name,
      });
    } else {
      if (t.length !== 4) {
        issues.add(
          lineNo,
          `fold ${fold + 1}: expected a different-person line "name1 i name2 j", got ${t.length} fields`,
        );
        continue;
      }
      const [n1, i, n2, j] = t;
      if (!POSITIVE_INT.test(i) || !POSITIVE_INT.test(j)) {
        issues.add(lineNo, `image numbers must be positive integers, got "${i}" and "${j}"`);
        continue;
      }
      if (n1 === n2) {
        issues.add(lineNo, `a different-person line names the same person twice ("${n1}")`);
        continue;
      }
      pairs.push({
        a: lfwImagePath(opts.root, n1, Number(i)),
        b: lfwImagePath(opts.root, n2, Number(j)),
        same: false,
        fold,
        line: lineNo,
        idA: n1,
        idB: n2,
      });
    }
  }
  if (lines.length - 1 > expected) {
    issues.add(expected + 2, `unexpected line after the ${expected} pairs the header announces`);
  }
  issues.throwIfAny();
  return { format: 'lfw', folds, pairs, source: file };
}

/** Split one CSV line, honouring double quotes ("" inside quotes is a literal quote). */
function csvFields(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return undefined; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') return undefined;
    } else {
      while (i < line.length && line[i] !== ',') field += line[i++];
      field = field.trim();
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // the comma
  }
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'same', 'y', 't']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'different', 'diff', 'n', 'f']);
const COLUMNS = ['img1', 'img2', 'same', 'fold'] as const;

export function parseCsvPairs(text: string, opts: { root: string; file?: string }): PairList {
  const file = opts.file ?? '<pairs.csv>';
  const issues: Issues = new Issues(file);
  const lines = splitLines(text);
  let col: Record<(typeof COLUMNS)[number], number> = { img1: 0, img2: 1, same: 2, fold: 3 };
  let first = 0;
  while (first < lines.length && lines[first].trim() === '') first++;
  if (first >= lines.length) issues.fail(1, 'empty file');
  const headFields = csvFields(lines[first])?.map((f) => f.toLowerCase());
  let width: number | undefined;
  if (headFields && headFields.includes('img1')) {
    const missing = COLUMNS.slice(0, 3).filter((c) => !headFields.includes(c));
    if (missing.length) issues.fail(first + 1, `header lacks column(s) ${missing.join(', ')}`);
    const unknown = headFields.filter((h) => !(COLUMNS as readonly string[]).includes(h));
    if (unknown.length) issues.fail(first + 1, `unknown column(s) ${unknown.join(', ')}`);
    col = {
      img1: headFields.indexOf('img1'),
      img2: headFields.indexOf('img2'),
      same: headFields.indexOf('same'),
      fold: headFields.indexOf('fold'),
    };
    width = headFields.length;
    first++;
  }
  const pairs: ImagePair[] = [];
  let withFold = 0;
  for (let k = first; k < lines.length; k++) {
    const lineNo = k + 1;
    if (lines[k].trim() === '') continue;
    const f = csvFields(lines[k]);
    if (!f) {
      issues.add(lineNo, 'unbalanced double quote');
      continue;
    }
    width ??= f.length;
    if (f.length !== width || width < 3 || width > 4) {
      issues.add(
        lineNo,
        `expected ${width >= 3 && width <= 4 ? width : '3 or 4'} fields (img1,img2,same[,fold]), got ${f.length}`,
      );
      continue;
    }
    const a = f[col.img1];
    const b = f[col.img2];
    const sameRaw = f[col.same].toLowerCase();
    if (!a || !b) {
      issues.add(lineNo, 'empty image path');
      continue;
    }
    let same: boolean;
    if (TRUE_WORDS.has(sameRaw)) same = true;
    else if (FALSE_WORDS.has(sameRaw)) same = false;
    else {
      issues.add(lineNo, `"same" must be 1/0, true/false, yes/no or same/different, got "${f[col.same]}"`);
      continue;
    }
    let fold = 0;
    if (col.fold >= 0 && col.fold < f.length) {
      if (!/^\d+$/.test(f[col.fold])) {
        issues.add(lineNo, `fold must be an integer ≥ 0, got "${f[col.fold]}"`);
        continue;
      }
      fold = Number(f[col.fold]);
      withFold++;
    }
    pairs.push({ a: path.resolve(opts.root, a), b: path.resolve(opts.root, b), same, fold, line: lineNo });
  }
  if (pairs.length === 0 && issues.list.length === 0) issues.add(first + 1, 'no pairs');
  issues.throwIfAny();
  const folds = withFold > 0 ? new Set(pairs.map((p) => p.fold)).size : 1;
  return { format: 'csv', folds, pairs, source: file };
}

export interface LoadPairsOptions {
  /** Image root. LFW default: `<dir>/lfw` if that folder exists, else `<dir>`; CSV default: `<dir>`. */
  root?: string;
  /** Default: 'csv' for a .csv file, else 'lfw'. */
  format?: 'lfw' | 'csv';
}

/** Read a pairs file: LFW's pairs.txt or a CSV `img1,img2,same[,fold]` (paths relative to `root`). */
export function loadPairs(file: string, opts: LoadPairsOptions = {}): PairList {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VisageError('E_FILE_NOT_FOUND', `pair list not found: ${file}`, { file });
    }
    throw e;
  }
  const dir = path.dirname(path.resolve(file));
  const format = opts.format ?? (file.toLowerCase().endsWith('.csv') ? 'csv' : 'lfw');
  if (format === 'csv') return parseCsvPairs(text, { root: opts.root ?? dir, file });
  const lfwDir = path.join(dir, 'lfw');
  const root = opts.root ?? (fs.existsSync(lfwDir) ? lfwDir : dir);
  return parseLfwPairs(text, { root, file });
}

/** Image paths the list refers to that do not exist (each once), to fail before hours of encoding. */
export function missingImages(list: PairList, limit = 20): string[] {
  const seen = new Set<string>();
  const missing: string[] = [];
  for (const p of list.pairs) {
    for (const f of [p.a, p.b]) {
      if (seen.has(f)) continue;
      seen.add(f);
      if (!fs.existsSync(f)) {
        missing.push(f);
        if (missing.length >= limit) return missing;
      }
    }
  }
  return missing;
}

/** The list as CSV with a fold column, paths relative to `root` where they lie under it. */
export function formatPairsCsv(list: PairList, root: string): string {
  const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rel = (p: string): string => {
    const r = path.relative(root, p);
    return r.startsWith('..') || path.isAbsolute(r) ? p : r.split(path.sep).join('/');
  };
  const rows = list.pairs.map((p) => `${q(rel(p.a))},${q(rel(p.b))},${p.same ? 1 : 0},${p.fold}`);
  return ['img1,img2,same,fold', ...rows].join('\n') + '\n';
}

const IMAGE_EXT = /\.(jpe?g|png|pgm|ppm|pnm|gif|bmp|webp|tiff?)$/i;

export interface MakePairsOptions {
  folds?: number;
  /** Same-person pairs per fold (as many different-person pairs are drawn). */
  perFold?: number;
  seed?: number;
  /**
   * Only the identities of one half (1 or 2), split by a hash of the folder name: tune on half 1,
   * report on half 2, and no person is in both.
   */
  half?: 1 | 2;
}

/** Which half (1 or 2) an identity folder falls in: the low bit of the SHA-256 of its name. */
export function identityHalf(name: string): 1 | 2 {
  return (crypto.createHash('sha256').update(name).digest()[0] & 1) === 0 ? 1 : 2;
}

/**
 * LFW-style folds from a folder-per-identity dataset (folders starting with '_' or '.' skipped):
 * identities are shuffled and dealt to folds, so no person appears in two folds (the threshold chosen on
 * nine folds is tested on people it never saw); within a fold, distinct random pairs are drawn.
 */
export function makePairs(root: string, opts: MakePairsOptions = {}): PairList {
  const k = opts.folds ?? 10;
  const perFold = opts.perFold ?? 100;
  if (!fs.existsSync(root)) throw new VisageError('E_FILE_NOT_FOUND', `dataset folder not found: ${root}`);
  const ids = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('_') && !d.name.startsWith('.'))
    .map((d) => ({
      id: d.name,
      images: fs
        .readdirSync(path.join(root, d.name))
        .filter((f) => IMAGE_EXT.test(f))
        .sort()
        .map((f) => path.join(root, d.name, f)),
    }))
    .filter((x) => x.images.length > 0 && (opts.half === undefined || identityHalf(x.id) === opts.half))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  if (ids.length < 2 * k) {
    throw new VisageError(
      'E_BAD_DATASET',
      `${root}: ${ids.length} identities cannot fill ${k} folds (need ≥ 2 each)`,
    );
  }
  const rand = mulberry32(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const pairs: ImagePair[] = [];
  for (let f = 0; f < k; f++) {
    const members = ids.filter((_, i) => i % k === f);
    const multi = members.filter((m) => m.images.length >= 2);
    if (multi.length === 0)
      throw new VisageError('E_BAD_DATASET', `fold ${f + 1} has no identity with 2+ images`);
    for (const same of [true, false]) {
      const used = new Set<string>();
      let made = 0;
      for (let attempt = 0; made < perFold && attempt < perFold * 50; attempt++) {
        let a: string;
        let b: string;
        let idA: string;
        let idB: string;
        if (same) {
          const m = pick(multi);
          a = pick(m.images);
          b = pick(m.images);
          idA = idB = m.id;
          if (a === b) continue;
        } else {
          const m1 = pick(members);
          const m2 = pick(members);
          if (m1 === m2) continue;
          a = pick(m1.images);
          b = pick(m2.images);
          idA = m1.id;
          idB = m2.id;
        }
        const key = a < b ? `${a}\n${b}` : `${b}\n${a}`;
        if (used.has(key)) continue;
        used.add(key);
        pairs.push({ a, b, same, fold: f, line: 0, idA, idB });
        made++;
      }
      if (made < perFold) {
        throw new VisageError(
          'E_BAD_DATASET',
          `fold ${f + 1}: only ${made} distinct ${same ? 'same' : 'different'}-person pairs exist, ${perFold} asked`,
        );
      }
    }
  }
  return { format: 'generated', folds: k, pairs, source: root };
}
