import type { Command } from 'commander';
import { VisageError } from '../../errors.js';
import {
  benchStyle,
  formatStyleBench,
  STYLE_BENCH_NETWORKS,
  type StyleBenchNetwork,
} from '../../bench/style.js';
import { emit, note } from '../output.js';
import { parseNumber } from './faces.js';

function parseList<T>(v: string, what: string, item: (s: string) => T): T[] {
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new VisageError('E_BAD_OPTION', `${what} must not be empty`);
  return parts.map(item);
}

const positiveInt = (v: number) => Number.isInteger(v) && v >= 1;

/** `visage bench style`, added to the `bench` command group. */
export function registerBenchStyle(bench: Command): void {
  bench
    .command('style')
    .description(
      's/iteration of style transfer (InceptionV3, VGG-19) at 256² and 512², peak memory, vs the same network in PyTorch',
    )
    .option('--sizes <px,...>', 'square output sizes', '256,512')
    .option(
      '--networks <names>',
      `networks: ${STYLE_BENCH_NETWORKS.join(',')}`,
      STYLE_BENCH_NETWORKS.join(','),
    )
    .option('--iterations <n>', 'timed iterations per case (median reported)', '5')
    .option('--warmup <n>', 'untimed iterations first', '2')
    .option('--no-torch', 'skip the PyTorch peer even if it is installed')
    .option(
      '--torch-threads <n,...>',
      "the peer's thread counts (default: the threads Visage's engine runs on)",
    )
    .option('--check-1024', 'also stylise at 1024 px coarse-to-fine (256→512→1024): wall time and peak heap')
    .option('--check-size <px>', 'size of that coarse-to-fine memory check instead of 1024')
    .option('--check-iterations <n>', 'iterations per scale of the memory check', '2')
    .action(
      async (o: {
        sizes: string;
        networks: string;
        iterations: string;
        warmup: string;
        torch: boolean;
        torchThreads?: string;
        check1024?: boolean;
        checkSize?: string;
        checkIterations: string;
      }) => {
        const sizes = parseList(o.sizes, '--sizes', (s) =>
          parseNumber(s, '--sizes', (v) => Number.isInteger(v) && v >= 32)!,
        );
        const networks = parseList(o.networks, '--networks', (s) => {
          if (!(STYLE_BENCH_NETWORKS as readonly string[]).includes(s))
            throw new VisageError(
              'E_BAD_OPTION',
              `--networks: unknown network "${s}" (${STYLE_BENCH_NETWORKS.join(', ')})`,
            );
          return s as StyleBenchNetwork;
        });
        const iterations = parseNumber(o.iterations, '--iterations', positiveInt);
        const warmup = parseNumber(o.warmup, '--warmup', positiveInt);
        const checkSize =
          parseNumber(o.checkSize, '--check-size', (v) => Number.isInteger(v) && v >= 32) ??
          (o.check1024 ? 1024 : undefined);
        const checkIterations = parseNumber(o.checkIterations, '--check-iterations', positiveInt);
        const torchThreads =
          o.torchThreads === undefined
            ? undefined
            : parseList(o.torchThreads, '--torch-threads', (s) =>
                parseNumber(s, '--torch-threads', positiveInt)!,
              );
        note('benchmarking style transfer: one fresh process per case (minutes)…');
        const r = await benchStyle({
          sizes,
          networks,
          iterations,
          warmup,
          torch: o.torch,
          torchThreads,
          checkSize,
          checkIterations,
          log: note,
        });
        emit(r, () => formatStyleBench(r));
      },
    );
}
