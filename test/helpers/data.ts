import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, found from this file whether it runs from test/ or dist/test/. */
export const repoRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

/**
 * The shared research data (never shipped): VISAGE_DATA, default ../shared/data beside the repo.
 * Fails loudly instead of letting a test pass vacuously when the data is missing.
 */
export function dataDir(...sub: string[]): string {
  const root = process.env.VISAGE_DATA ?? path.resolve(repoRoot, '..', 'shared', 'data');
  const p = path.join(root, ...sub);
  if (!fs.existsSync(p)) {
    throw new Error(
      `test data not found at ${p}: set VISAGE_DATA to the folder holding faces/ and images/ (see README)`,
    );
  }
  return p;
}
