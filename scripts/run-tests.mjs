// Runs node's test runner over the compiled test files only (dist/test/**/*.test.js), so that helper
// modules under test/ (fixtures, child processes) are not mistaken for test files.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'test');
const files = fs
  .readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  // tsc never deletes outputs: skip compiled tests whose source is gone (renamed or removed since).
  .filter((f) => fs.existsSync(path.join(root, '..', '..', 'test', f.replace(/\.js$/, '.ts'))))
  .filter((f) => process.argv.length <= 2 || process.argv.slice(2).some((a) => f.includes(a)))
  .sort()
  .map((f) => path.join(root, f));
if (files.length === 0) {
  console.error(`no test files found under ${root}: run npm run build first`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
