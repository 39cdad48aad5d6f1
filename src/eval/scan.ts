/**
 * A labelled face set on disk: one folder per identity, images inside (the layout of ORL, Yale B and the
 * other shared sets). Scanning is by file name only; images are decoded later by FaceImageSource, which
 * sniffs the real format from the bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../errors.js';
import { naturalCompare } from './natural-sort.js';

/** File name extensions (lower case, with the dot) treated as images when scanning. */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.png',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
  '.avif',
  '.pgm',
  '.ppm',
  '.pbm',
  '.pnm',
];

export interface Identity {
  /** The folder name, used as the person's label. */
  name: string;
  /** Absolute paths of the images, in natural order. */
  files: string[];
}

export interface IdentityDataset {
  /** Absolute path of the scanned folder. */
  root: string;
  /** In natural order of their names; an identity's index in this list is its integer label. */
  identities: Identity[];
  /** Folders that were not used, with why (unlabelled `_…`, hidden, or holding no images). */
  skipped: { name: string; reason: string }[];
}

export interface ScanOptions {
  /** Extensions to accept (lower case, with the dot). Default IMAGE_EXTENSIONS. */
  extensions?: readonly string[];
  /** Drop identities with fewer images than this (recorded in `skipped`). Default 1. */
  minImages?: number;
  /** Keep only the first N images (natural order) of each identity: a cheaper subset. Default all. */
  maxImages?: number;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory(); // follows symlinks, so a linked identity folder counts
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Lists the identity folders under `root` (sorted naturally: s2 before s10, files likewise). Folders whose
 * names start with `_` (unlabelled or multi-face photos in the shared sets) or `.` are skipped, as are files
 * in `root` itself and files without an image extension (READMEs, .DS_Store, Thumbs.db). Only the first
 * level inside an identity folder is read. Throws E_BAD_DATASET when `root` is missing, not a folder, or
 * holds fewer than 2 usable identities (triplets and pairs need at least two people).
 */
export function scanIdentityFolders(root: string, opts: ScanOptions = {}): IdentityDataset {
  const abs = path.resolve(root);
  const exts = new Set((opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const minImages = opts.minImages ?? 1;
  if (!Number.isInteger(minImages) || minImages < 1) {
    throw new VisageError('E_BAD_OPTION', `minImages must be a positive integer, got ${minImages}`);
  }
  if (!fs.existsSync(abs)) {
    throw new VisageError('E_BAD_DATASET', `dataset folder not found: ${abs}`, { root: abs });
  }
  if (!isDirectory(abs)) {
    throw new VisageError('E_BAD_DATASET', `dataset path is not a folder: ${abs}`, { root: abs });
  }
  const names = fs.readdirSync(abs).sort(naturalCompare);
  const identities: Identity[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of names) {
    const dir = path.join(abs, name);
    if (!isDirectory(dir)) continue;
    if (name.startsWith('_')) {
      skipped.push({ name, reason: 'unlabelled (name starts with _)' });
      continue;
    }
    if (name.startsWith('.')) {
      skipped.push({ name, reason: 'hidden folder' });
      continue;
    }
    const files = fs
      .readdirSync(dir)
      .filter((f) => !f.startsWith('.') && exts.has(path.extname(f).toLowerCase()))
      .sort(naturalCompare)
      .map((f) => path.join(dir, f))
      .filter(isFile);
    if (files.length < minImages) {
      skipped.push({
        name,
        reason: files.length === 0 ? 'no images' : `${files.length} image(s), fewer than ${minImages}`,
      });
      continue;
    }
    identities.push({ name, files: opts.maxImages ? files.slice(0, opts.maxImages) : files });
  }
  if (identities.length < 2) {
    throw new VisageError(
      'E_BAD_DATASET',
      identities.length === 0
        ? `no identity folders with images in ${abs}: expected one folder per person (e.g. ${abs}/alice/1.jpg)`
        : `only one identity (${identities[0].name}) in ${abs}: training and evaluation need at least 2`,
      { root: abs, identities: identities.length, skipped },
    );
  }
  return { root: abs, identities, skipped };
}

/** Total number of images in a dataset. */
export function countImages(dataset: Pick<IdentityDataset, 'identities'>): number {
  return dataset.identities.reduce((s, id) => s + id.files.length, 0);
}
