import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../paths.js';

let found: string | null | undefined;

/**
 * A python that can import torch, for the benchmarks' PyTorch peer: $VISAGE_PYTHON, python3 on PATH, or
 * the system one (Debian's python3-torch). Undefined when none can; the answer is kept for the process.
 */
export function findTorchPython(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  for (const py of [process.env.VISAGE_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (c): c is string => !!c,
  )) {
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      found = py;
      break;
    } catch {
      // try the next one
    }
  }
  return found ?? undefined;
}

/** A peer script shipped in bench/peers/ (e.g. torch_train_step.py). */
export function peerScript(name: string): string {
  return path.join(packageRoot(), 'bench', 'peers', name);
}
