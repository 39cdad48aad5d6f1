import type { Command } from 'commander';

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmarks (print ratios against a named peer measured in the same run)');
  void bench;
}
