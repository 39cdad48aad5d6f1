import type { Command } from 'commander';
import { benchEngine, formatEngineBench } from '../../bench/engine.js';
import { benchFaces, formatFacesBench } from '../../bench/faces.js';
import { benchGallerySearch } from '../../bench/gallery.js';
import { emit, note } from '../output.js';
import { registerBenchServe } from './bench-serve.js';
import { registerBenchStyle } from './bench-style.js';
import { parseNumber } from './faces.js';

const ms = (v: number) => `${v.toFixed(2)} ms`;

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmarks: each prints ratios against a named peer measured in the same run');

  bench
    .command('engine')
    .description(
      'conv2d forward/gradient GFLOP/s, 1→N core speed-up, ResNet-18 triplet training step (vs PyTorch if installed)',
    )
    .option('--repeats <n>', 'timed repetitions of each measurement (median reported)', '3')
    .option('--no-torch', 'skip the PyTorch peer even if it is installed')
    .action(async (o: { repeats: string; torch: boolean }) => {
      note('benchmarking the engine (a few minutes)…');
      const repeats = parseNumber(o.repeats, '--repeats', (v) => Number.isInteger(v) && v >= 1);
      const r = await benchEngine({ repeats, torch: o.torch ? 'auto' : false, log: (m: string) => note(m) });
      emit(r, () => formatEngineBench(r));
    });

  bench
    .command('faces')
    .description(
      'images/s of the whole face pipeline and faces/s of the encoder (batch 1 and 16) vs @vladmandic/face-api',
    )
    .option('--repeats <n>', 'timed repetitions (median reported)', '3')
    .action(async (o: { repeats: string }) => {
      const repeats = parseNumber(o.repeats, '--repeats', (v) => Number.isInteger(v) && v >= 1);
      const r = await benchFaces({ repeats, log: (m) => note(m) });
      emit(r, () => formatFacesBench(r));
    });

  bench
    .command('gallery')
    .description('1:N exact search time over a gallery of random unit vectors (vs a plain JS scan)')
    .option('-n, --size <n>', 'gallery size', '100000')
    .option('--dim <d>', 'embedding dimension', '128')
    .action((o: { size: string; dim: string }) => {
      const n = parseNumber(o.size, '--size', (v) => Number.isInteger(v) && v >= 1)!;
      const dim = parseNumber(o.dim, '--dim', (v) => Number.isInteger(v) && v >= 1)!;
      const r = benchGallerySearch({ n, dim });
      emit(r, () =>
        [
          `gallery of ${r.n} × ${r.dim}-D (${(r.fileBytes / 1e6).toFixed(1)} MB): built in ${ms(r.buildMs)}, opened in ${ms(r.openMs)}`,
          `search (exact, top ${r.top}, ${r.queries} queries, kernel ${r.kernel}): median ${ms(r.searchMs.median)}, p95 ${ms(r.searchMs.p95)}`,
          `peer ${r.peer.name}: median ${ms(r.peer.searchMs.median)} → ${r.speedup.toFixed(2)}× faster; rank-1 exactness ${r.rank1}`,
        ].join('\n'),
      );
    });
  registerBenchStyle(bench);
  registerBenchServe(bench);
}
