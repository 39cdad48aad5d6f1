import type { Command } from 'commander';
import { benchServe, formatServeBench } from '../../server/bench.js';
import { emit, note } from '../output.js';
import { parseNumber } from './faces.js';

const positiveInt = (v: number) => Number.isInteger(v) && v >= 1;

/** `visage bench serve`, added to the `bench` command group. */
export function registerBenchServe(bench: Command): void {
  bench
    .command('serve')
    .description(
      'HTTP service on 127.0.0.1: N clients identify / enroll against a 10,000-person gallery; req/s, p50/p95/p99, errors, cost vs the library',
    )
    .option('-c, --clients <n>', 'concurrent clients', '4')
    .option('--requests <n>', 'requests per phase at most', '100')
    .option('--seconds <s>', 'seconds per phase at most', '30')
    .option('--people <n>', 'synthetic people in the gallery', '10000')
    .action(async (o: { clients: string; requests: string; seconds: string; people: string }) => {
      const r = await benchServe({
        clients: parseNumber(o.clients, '--clients', positiveInt),
        requests: parseNumber(o.requests, '--requests', positiveInt),
        seconds: parseNumber(o.seconds, '--seconds', (v) => v > 0),
        people: parseNumber(o.people, '--people', positiveInt),
        log: (m) => note(m),
      });
      emit(r, () => formatServeBench(r));
      if (r.phases.some((p) => p.errors > 0) || !r.enrollsPresent) process.exitCode = 3;
    });
}
