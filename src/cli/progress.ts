import cliProgress from 'cli-progress';
import { out } from './output.js';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar with ETA on stderr for long work; silent when stderr is not a terminal or with --json,
 * so logs and pipes stay clean.
 */
export function progressBar(label: string, total: number, fields: string[] = []): Progress {
  if (out.json || out.quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const extra = fields.map((f) => ` | ${f}: {${f}}`).join('');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted}${extra}`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, Object.fromEntries(fields.map((f) => [f, '-'])));
  return {
    update: (done, values) => bar.update(done, values),
    stop: () => bar.stop(),
  };
}
