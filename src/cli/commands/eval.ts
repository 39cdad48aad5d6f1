import type { Command } from 'commander';
import { VisageError } from '../../errors.js';
import { loadModel } from '../../engine/graph/serialize.js';
import { assertInputDir, assertOutputDir, assertOutputFile, statInputFile } from '../../files.js';
import {
  loadCalibration,
  saveCalibration,
  shippedCalibrationFile,
  userCalibrationFile,
  withPolicy,
} from '../../faces/calibration.js';
import { calibrateThreshold, evaluateIdentify, evaluatePairList } from '../../eval/evaluate.js';
import { loadPairs, makePairs } from '../../eval/pairs.js';
import { emit, note } from '../output.js';
import { progressBar, type Progress } from '../progress.js';
import { parseJitter, parseNumber, withFlipOptions } from './faces.js';
import fs from 'node:fs';
import { DEFAULT_FACE_RULE, FACE_RULES, type FaceRule } from '../../faces/choose.js';

interface EvalCliOptions {
  model?: string;
  grey?: boolean;
  faceRule?: string;
  flip?: boolean;
  jitter?: string;
  threads?: string;
  cache?: boolean;
  fallback?: boolean;
}

function common(cmd: Command): Command {
  cmd.option('-m, --model <dir>', 'encoder: a Visage model folder (default: dlib ResNet-34)');
  return withFlipOptions(cmd)
    .option('--threads <n>', 'worker threads (default: $VISAGE_THREADS or every core)')
    .option('--no-cache', 'ignore and do not write the embedding cache')
    .option('--no-fallback', 'skip images without a detectable face instead of using a centred crop')
    .option('--grey', 'convert every photo to grey first (Rec. 601 luma), to measure greyscale archives')
    .option(
      '--face-rule <rule>',
      `which face stands for a photo with several: ${FACE_RULES.join(' | ')} (default ${DEFAULT_FACE_RULE}; the face-api peer: largest)`,
    );
}

/** Inputs and outputs checked before minutes of detection, each named in its error. */
function checkPaths(o: { model?: string; pairs?: string; roots?: string[]; plots?: string }): void {
  if (o.model) loadModel(o.model);
  if (o.pairs) statInputFile(o.pairs, 'pairs file');
  for (const r of o.roots ?? []) assertInputDir(r, 'image root', 'E_BAD_DATASET');
  if (o.plots) assertOutputDir(o.plots, '--plots folder');
}

function batchOptions(o: EvalCliOptions, label: string) {
  // The bar is made on the first progress report, when the number of images is known.
  let bar: Progress | undefined;
  return {
    opts: {
      model: o.model,
      flip: o.flip,
      jitter: parseJitter(o.jitter),
      threads: parseNumber(o.threads, '--threads', (n) => Number.isInteger(n) && n >= 1),
      cache: o.cache,
      fallback: o.fallback,
      grey: o.grey,
      faceRule: parseFaceRule(o.faceRule),
      onProgress: (done: number, total: number) => {
        bar ??= progressBar(label, total);
        bar.update(done);
      },
    },
    stop: () => bar?.stop(),
  };
}

function parseFaceRule(v: string | undefined): FaceRule | undefined {
  if (v === undefined) return undefined;
  if (!(FACE_RULES as readonly string[]).includes(v))
    throw new VisageError('E_BAD_OPTION', `--face-rule must be one of ${FACE_RULES.join(', ')}, got "${v}"`);
  return v as FaceRule;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function registerEval(program: Command): void {
  const ev = program.command('eval').description('measure accuracy on labelled data');

  common(
    ev
      .command('pairs')
      .description('verification accuracy, LFW protocol (threshold chosen on the other folds)')
      .option('-p, --pairs <file>', 'LFW pairs.txt ("<folds> <n>" header) or CSV img1,img2,same')
      .option(
        '-r, --root <dir>',
        'image root (LFW layout <root>/<name>/<name>_<iiii>.jpg; CSV paths are relative to it); without --pairs, a folder of identity folders to draw LFW-style folds from',
      )
      .option('--folds <k>', 'folds to draw without --pairs (identities never cross folds)', '10')
      .option(
        '--per-fold <n>',
        'same-person pairs per fold without --pairs (as many different-person pairs)',
        '50',
      )
      .option('--seed <n>', 'seed for drawing pairs', '1')
      .option(
        '--half <1|2>',
        'without --pairs: only one half of the identities (split by a hash of the folder name): 1 to tune, 2 to report',
      )
      .option('--plots <dir>', 'write roc.png and distances.png here')
      .option('--peer <name>', 'score the same pairs with a peer implementation instead: face-api'),
  ).action(
    async (
      o: EvalCliOptions & {
        pairs?: string;
        root?: string;
        plots?: string;
        peer?: string;
        folds: string;
        perFold: string;
        seed: string;
        half?: string;
      },
    ) => {
      if (!o.pairs && !o.root)
        throw new VisageError('E_USAGE', 'eval pairs needs --pairs <file> or --root <identity folders>');
      if (o.peer !== undefined && o.peer !== 'face-api')
        throw new VisageError('E_BAD_OPTION', `--peer must be face-api, got "${o.peer}"`);
      checkPaths({ model: o.model, pairs: o.pairs, roots: o.root ? [o.root] : [], plots: o.plots });
      const b = batchOptions(o, 'embedding');
      const int = (v: string, name: string) => parseNumber(v, name, (n) => Number.isInteger(n) && n >= 1)!;
      const list = o.pairs
        ? loadPairs(o.pairs, { root: o.root })
        : makePairs(o.root!, {
            folds: int(o.folds, '--folds'),
            perFold: int(o.perFold, '--per-fold'),
            seed: int(o.seed, '--seed'),
            half: parseNumber(o.half, '--half', (n) => n === 1 || n === 2) as 1 | 2 | undefined,
          });
      const r = await evaluatePairList(list, {
        ...b.opts,
        plots: o.plots,
        peer: o.peer as 'face-api' | undefined,
      }).finally(b.stop);
      const s = r.summary;
      emit(r, () =>
        [
          `${r.pairs} pairs (${s.same} same / ${s.different} different), ${r.images} images, model ${r.model}`,
          r.foldsFrom === 'in-sample'
            ? `accuracy ${pct(r.accuracy.mean)} at the best threshold ON THESE PAIRS (in-sample: every pair shares images, so no fold can be held out)`
            : `accuracy ${pct(r.accuracy.mean)} ± ${pct(r.accuracy.std)} (std over ${r.folds} ${r.foldsFrom === 'image-groups' ? 'image-disjoint ' : ''}folds, threshold chosen on the other folds)`,
          ...(r.atDefaultThreshold
            ? [
                `at the default τ = ${r.atDefaultThreshold.threshold.toFixed(3)} (${r.atDefaultThreshold.source}): accuracy ${pct(r.atDefaultThreshold.accuracy)}, FAR ${pct(r.atDefaultThreshold.far)}, FRR ${pct(r.atDefaultThreshold.frr)}`,
              ]
            : []),
          `ROC AUC ${s.auc.toFixed(4)}, EER ${pct(s.eer.eer)} (d = ${s.eer.threshold.toFixed(3)}); in-sample best threshold ${s.bestAccuracy.threshold.toFixed(3)} (accuracy ${pct(s.bestAccuracy.accuracy)})`,
          ...s.tarAtFar.map(
            (t) =>
              `TAR@FAR=${t.far}: ${pct(t.result.tar)}${t.result.resolvable ? '' : ' (too few different-person pairs to resolve this FAR)'}`,
          ),
          `no face detected (centred crop used): ${r.fallbacks} image(s); pairs skipped: ${r.skipped}`,
          ...(r.plots ? [`plots: ${r.plots.roc}, ${r.plots.histogram}`] : []),
        ].join('\n'),
      );
    },
  );

  common(
    ev
      .command('identify')
      .description('one-shot identification: first image of each identity enrolled, the rest probed')
      .requiredOption('-r, --root <dir>', 'folder of identity folders')
      .option('--far <rate>', 'false-alarm rate for the open-set DIR figure', '0.01')
      .option(
        '--open-set-every <n>',
        'leave every n-th identity out of the gallery for the open-set test',
        '4',
      ),
  ).action(async (o: EvalCliOptions & { root: string; far: string; openSetEvery: string }) => {
    checkPaths({ model: o.model, roots: [o.root] });
    const b = batchOptions(o, 'embedding');
    const r = await evaluateIdentify(o.root, {
      ...b.opts,
      targetFar: parseNumber(o.far, '--far', (n) => n >= 0 && n <= 1),
      openSetEvery: parseNumber(o.openSetEvery, '--open-set-every', (n) => Number.isInteger(n) && n >= 2),
    }).finally(b.stop);
    emit(r, () =>
      [
        `${r.identities} identities enrolled from one image each, ${r.probes} probes, model ${r.model}`,
        `rank-1 ${pct(r.rank1)}, rank-5 ${pct(r.rank5)}`,
        `open set (${r.openSet.heldOutIdentities} identities not enrolled): DIR ${pct(r.openSet.dir)} at FAR ${pct(r.openSet.far)} (target ${r.openSet.targetFar}, τ = ${r.openSet.threshold.toFixed(3)})`,
        `no face detected (centred crop used): ${r.fallbacks} image(s)`,
      ].join('\n'),
    );
  });

  common(
    program
      .command('calibrate')
      .description(
        'pick the threshold τ for a target false-accept rate on labelled data, fit the confidence, save it',
      )
      .option('-p, --pairs <file>', 'labelled pairs (LFW pairs.txt or CSV)')
      .option(
        '-r, --root <dirs...>',
        'image root for --pairs, or folder(s) of identity folders (every pair is used)',
      )
      .option('--far <rate>', 'target false-accept rate, or "best-accuracy"', '0.001')
      .option('--per-identity <n>', 'with --root: only the first n photos (natural order) of each person')
      .option('-o, --out <file>', `calibration file to update (default: ${userCalibrationFile()})`),
  ).action(
    async (
      o: EvalCliOptions & {
        pairs?: string;
        root?: string[];
        far: string;
        out?: string;
        perIdentity?: string;
      },
    ) => {
      if (!o.pairs && !o.root)
        throw new VisageError('E_USAGE', 'calibrate needs --pairs <file> or --root <identity folders>');
      const far =
        o.far === 'best-accuracy' ? 'best-accuracy' : parseNumber(o.far, '--far', (n) => n > 0 && n < 1)!;
      checkPaths({ model: o.model, pairs: o.pairs, roots: o.root });
      const out = o.out ?? userCalibrationFile();
      assertOutputFile(out, 'calibration file');
      // The file to update is read before the work, so a broken one fails now rather than after it.
      const base = fs.existsSync(out)
        ? loadCalibration(out)
        : fs.existsSync(shippedCalibrationFile())
          ? loadCalibration(shippedCalibrationFile())
          : { version: 1 as const, policies: {} };
      const b = batchOptions(o, 'embedding');
      const source = o.pairs ? { pairs: o.pairs, root: o.root?.[0] } : { roots: o.root! };
      const perIdentity = parseNumber(o.perIdentity, '--per-identity', (n) => Number.isInteger(n) && n >= 2);
      const r = await calibrateThreshold(source, { ...b.opts, far, perIdentity }).finally(b.stop);
      saveCalibration(out, withPolicy(base, r.model, r.entry));
      note(`saved to ${out}`);
      emit({ ...r, file: out }, () =>
        [
          `model ${r.model}: τ = ${r.entry.threshold.toFixed(4)} from ${r.pairs} pairs (${typeof far === 'number' ? `FAR ≤ ${far}` : 'best accuracy'}); saved to ${out}`,
          r.heldOut
            ? `held out (${r.heldOut.folds.length}-fold over ${r.heldOut.groupedBy === 'identity' ? 'people' : 'image groups'}, τ chosen on the other folds' people): FAR ${pct(r.heldOut.pooled.far)}, FRR ${pct(r.heldOut.pooled.frr)}, accuracy ${pct(r.heldOut.pooled.accuracy)}; τ over folds ${r.heldOut.threshold.mean.toFixed(4)} ± ${r.heldOut.threshold.std.toFixed(4)}`
            : 'held out: too few people for a 5-fold check (10 needed)',
        ].join('\n'),
      );
    },
  );
}
