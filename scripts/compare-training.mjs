#!/usr/bin/env node
/**
 * Trains one encoder per (strategy, seed) with the same budget and prints a markdown table of held-out
 * results: the README's training tables come from this script. Each run is an ordinary `visage train`
 * (its folder keeps history.json, report.html and the model); finished runs are reused, so an interrupted
 * comparison continues where it stopped.
 *
 *   node scripts/compare-training.mjs --out runs/orl-compare --seeds 0,1,2 --jobs 2 \
 *     --strategies all,hard,semi-hard,random,binary -- --data ../shared/data/faces/att_orl --no-detect …
 *
 * Strategies: a triplet miner name (all, hard, semi-hard, random) or `binary` (the logistic pair head).
 * Everything after `--` is passed to every run; --seed, --mining/--loss, --out and --threads are set here.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

const sep = process.argv.indexOf('--');
const own = sep < 0 ? process.argv.slice(2) : process.argv.slice(2, sep);
const passThrough = sep < 0 ? [] : process.argv.slice(sep + 1);
const { values } = parseArgs({
  args: own,
  options: {
    out: { type: 'string' },
    seeds: { type: 'string', default: '0,1,2' },
    strategies: { type: 'string', default: 'all,hard,semi-hard,random,binary' },
    jobs: { type: 'string', default: '1' },
    'threads-per-run': { type: 'string', default: '1' },
    title: { type: 'string', default: 'held-out identities' },
  },
});
if (!values.out || passThrough.length === 0) {
  console.error(
    'usage: compare-training.mjs --out DIR [--seeds 0,1,2] [--strategies …] [--jobs N] -- <visage train options>',
  );
  process.exit(1);
}
for (const banned of ['--seed', '--mining', '--loss', '--out', '-o', '--threads']) {
  if (passThrough.includes(banned)) {
    console.error(`${banned} is set by this script per run; remove it after --`);
    process.exit(1);
  }
}
if (!fs.existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

const seeds = values.seeds.split(',').map(Number);
const strategies = values.strategies.split(',');
const runs = strategies.flatMap((strategy) => seeds.map((seed) => ({ strategy, seed })));
const dirOf = (r) => path.join(values.out, `${r.strategy}-seed${r.seed}`);

/** The run's history.json once every epoch is in (undefined before), with `after` = the last validation. */
function finished(r) {
  try {
    const h = JSON.parse(fs.readFileSync(path.join(dirOf(r), 'history.json'), 'utf8'));
    const last = h.history?.[h.history.length - 1];
    if (!last || last.epoch !== h.settings.epochs || last.valAccuracy === undefined) return undefined;
    return { ...h, after: { accuracy: last.valAccuracy, auc: last.valAuc, rank1: last.valRank1 } };
  } catch {
    return undefined;
  }
}

function train(r) {
  const dir = dirOf(r);
  const resume = fs.existsSync(path.join(dir, 'checkpoint'));
  const args = [cli, 'train', ...passThrough, '--out', dir, '--seed', String(r.seed)];
  args.push('--threads', values['threads-per-run']);
  args.push(...(r.strategy === 'binary' ? ['--loss', 'binary'] : ['--mining', r.strategy]));
  if (resume) args.push('--resume');
  fs.mkdirSync(dir, { recursive: true });
  const log = fs.openSync(path.join(values.out, `${r.strategy}-seed${r.seed}.log`), 'a');
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    child.on('exit', (code) => {
      fs.closeSync(log);
      const s = ((Date.now() - t0) / 1000).toFixed(0);
      if (code === 0) {
        console.error(`done ${r.strategy} seed ${r.seed} (${s} s)`);
        resolve();
      } else
        reject(new Error(`${r.strategy} seed ${r.seed} failed (exit ${code}); see its log in ${values.out}`));
    });
  });
}

// Stop cleanly on Ctrl-C: each run saves its checkpoint and the next invocation resumes it.
process.on('SIGINT', () => {});

const todo = runs.filter((r) => !finished(r));
console.error(`${runs.length - todo.length} of ${runs.length} runs already done; ${todo.length} to train`);
const jobs = Math.max(1, Number(values.jobs));
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, todo.length) }, async () => {
    while (next < todo.length) await train(todo[next++]);
  }),
);

const pct = (v) => (100 * v).toFixed(1);
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const sd = (a) =>
  a.length < 2 ? 0 : Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1));
const cell = (a) => `${pct(mean(a))} ± ${pct(sd(a))}`;

const first = finished(runs[0]);
const steps = first.history[first.history.length - 1].steps;
console.log(
  `Held-out results (${values.title}; ${steps} steps per run, seeds ${seeds.join(', ')}; mean ± sd):\n`,
);
console.log(
  '| strategy | pair accuracy % (per seed) | ROC AUC | one-shot rank-1 % | before training: accuracy % | active at end % |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const strategy of strategies) {
  const hs = seeds.map((seed) => finished({ strategy, seed }));
  const acc = hs.map((h) => h.after.accuracy);
  const last = hs.map((h) => h.history[h.history.length - 1]);
  const active = last.map((e) => e.activeFraction).filter((v) => typeof v === 'number');
  console.log(
    `| ${strategy} | ${cell(acc)} (${acc.map(pct).join(', ')}) | ${mean(hs.map((h) => h.after.auc)).toFixed(3)} | ` +
      `${cell(hs.map((h) => h.after.rank1))} | ${cell(hs.map((h) => h.before.accuracy))} | ` +
      `${active.length ? pct(mean(active)) : '–'} |`,
  );
}
