import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './data.js';

/** Run the real `visage` CLI in a child process: the compiled one when built, else the sources via tsx. */
export function runVisage(
  args: string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): SpawnSyncReturns<string> {
  const compiled = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const argv =
    fs.existsSync(compiled) && import.meta.url.includes('/dist/')
      ? [compiled, ...args]
      : ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args];
  return spawnSync(process.execPath, argv, {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    timeout: 120_000,
  });
}
