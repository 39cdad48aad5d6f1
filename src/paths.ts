import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The visage package's own folder (works from src/ under tsx and from dist/src/ when compiled). */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'visage')
      return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error('visage package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function visageVersion(): string {
  return (
    JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

const requireHere = createRequire(import.meta.url);

/**
 * Folder of an installed npm package, also for packages whose `exports` map hides package.json
 * (sharp, nsfwjs): resolve the entry point and walk up to the package.json that names it.
 */
export function dependencyDir(name: string): string | null {
  try {
    return path.dirname(requireHere.resolve(`${name}/package.json`));
  } catch {
    // fall through
  }
  let entry: string;
  try {
    entry = requireHere.resolve(name);
  } catch {
    return null;
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === name)
      return dir;
  }
  return null;
}

export function dependencyVersion(name: string): string | null {
  const dir = dependencyDir(name);
  return dir
    ? (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version
    : null;
}
