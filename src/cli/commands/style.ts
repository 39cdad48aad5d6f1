import path from 'node:path';
import type { Command } from 'commander';
import { VisageError } from '../../errors.js';
import { assertOutputFile } from '../../files.js';
import { decodeImage } from '../../image/decode.js';
import { writeImage } from '../../image/encode.js';
import { sideBySide } from '../../image/geometry.js';
import {
  releaseDefaultStyleNetwork,
  STYLE_DEFAULTS,
  stylize,
  VGG19_STYLE_DEFAULTS,
  type StylizeOptions,
} from '../../style/index.js';
import { loadVgg19Weights, saveVgg19Weights } from '../../style/weights/index.js';
import { emit, note } from '../output.js';
import { progressBar } from '../progress.js';
import { parseNumber } from './faces.js';

interface StyleCliOptions {
  out?: string;
  size?: string;
  iterations?: string;
  contentWeight?: string;
  styleWeight?: string;
  tvWeight?: string;
  styleLayers?: string;
  contentLayer?: string;
  optimizer?: string;
  lr?: string;
  init?: string;
  styleBlend?: string;
  preserveColors?: boolean;
  scales?: string;
  seed?: string;
  previewEvery?: string;
  grid?: string;
  weights?: string;
  pooling?: string;
}

const nonNegative = (n: number) => Number.isFinite(n) && n >= 0;
const positiveInt = (n: number) => Number.isInteger(n) && n >= 1;

/** "conv1_1:0.2,mixed0:1" → { conv1_1: 0.2, mixed0: 1 }. */
export function parseStyleLayers(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, w = '1'] = part.split(':');
    const weight = Number(w);
    if (!name || !nonNegative(weight)) {
      throw new VisageError(
        'E_BAD_OPTION',
        `--style-layers wants name:weight,… with weights ≥ 0, got "${part}"`,
      );
    }
    out[name] = weight;
  }
  if (Object.keys(out).length === 0) throw new VisageError('E_BAD_OPTION', '--style-layers is empty');
  return out;
}

function list(v: string, what: string, check: (n: number) => boolean): number[] {
  return v.split(',').map((s) => parseNumber(s.trim(), what, check)!);
}

export function styleOptionsFrom(o: StyleCliOptions): StylizeOptions {
  const opts: StylizeOptions = {
    size: parseNumber(o.size, '--size', (n) => Number.isInteger(n) && n >= 32),
    iterations: parseNumber(o.iterations, '--iterations', (n) => Number.isInteger(n) && n >= 0),
    contentWeight: parseNumber(o.contentWeight, '--content-weight', nonNegative),
    styleWeight: parseNumber(o.styleWeight, '--style-weight', nonNegative),
    tvWeight: parseNumber(o.tvWeight, '--tv-weight', nonNegative),
    learningRate: parseNumber(o.lr, '--lr', (n) => Number.isFinite(n) && n > 0),
    seed: parseNumber(o.seed, '--seed', Number.isInteger),
    previewEvery: parseNumber(o.previewEvery, '--preview-every', positiveInt),
    contentLayer: o.contentLayer,
    preserveColors: o.preserveColors,
    weights: o.weights,
  };
  if (o.pooling) {
    if (o.pooling !== 'max' && o.pooling !== 'avg')
      throw new VisageError('E_BAD_OPTION', `--pooling must be max or avg, got "${o.pooling}"`);
    if (!o.weights) throw new VisageError('E_BAD_OPTION', '--pooling applies to VGG-19: give --weights');
    opts.pooling = o.pooling;
  }
  if (o.styleLayers) opts.styleLayers = parseStyleLayers(o.styleLayers);
  if (o.styleBlend) opts.styleBlend = list(o.styleBlend, '--style-blend', nonNegative);
  if (o.scales) opts.scales = list(o.scales, '--scales', (n) => Number.isInteger(n) && n >= 32);
  if (o.optimizer) {
    if (o.optimizer !== 'adam' && o.optimizer !== 'lbfgs')
      throw new VisageError('E_BAD_OPTION', `--optimizer must be adam or lbfgs, got "${o.optimizer}"`);
    opts.optimizer = o.optimizer;
  }
  if (o.init) {
    if (!['content', 'noise', 'style'].includes(o.init))
      throw new VisageError('E_BAD_OPTION', `--init must be content, noise or style, got "${o.init}"`);
    opts.init = o.init as StylizeOptions['init'];
  }
  for (const [k, v] of Object.entries(opts)) if (v === undefined) delete (opts as Record<string, unknown>)[k];
  return opts;
}

export function registerStyle(program: Command): void {
  const style = program.command('style');
  registerConvertWeights(style);
  style
    .description('neural style transfer (Gatys): paint <content> in the style of <style...>')
    .argument('<content>', 'content photo')
    .argument('<styles...>', 'one or more style images')
    // Checked in the action, not by commander: a required option would also be demanded of convert-weights.
    .option('-o, --out <file>', 'output image (.png or .jpg), required')
    .option('--size <px>', `long side of the output (default ${STYLE_DEFAULTS.size})`)
    .option('--iterations <n>', `optimisation steps per scale (default ${STYLE_DEFAULTS.iterations})`)
    .option(
      '--content-weight <α>',
      `content weight α (default ${STYLE_DEFAULTS.contentWeight}; ${VGG19_STYLE_DEFAULTS.contentWeight} with --weights)`,
    )
    .option(
      '--style-weight <β>',
      `style weight β (default ${STYLE_DEFAULTS.styleWeight}; ${VGG19_STYLE_DEFAULTS.styleWeight} with --weights)`,
    )
    .option(
      '--tv-weight <w>',
      `total-variation weight (default ${STYLE_DEFAULTS.tvWeight}; ${VGG19_STYLE_DEFAULTS.tvWeight} with --weights)`,
    )
    .option('--style-layers <name:λ,...>', 'style layers and their weights λ')
    .option('--content-layer <name>', 'content layer')
    .option('--optimizer <adam|lbfgs>', `optimiser (default ${STYLE_DEFAULTS.optimizer})`)
    .option('--lr <rate>', `learning rate (default ${STYLE_DEFAULTS.learningRate})`)
    .option('--init <content|noise|style>', `initial image (default ${STYLE_DEFAULTS.init})`)
    .option('--style-blend <w1,w2,...>', 'blend weights of several style images')
    .option('--preserve-colors', "keep the content's colours (luminance-only transfer)")
    .option('--scales <s1,s2,...>', 'coarse-to-fine long sides, e.g. 256,512 (the last is the output size)')
    .option('--seed <n>', `random seed (default ${STYLE_DEFAULTS.seed})`)
    .option('--preview-every <n>', 'write an intermediate image every n iterations (next to the output)')
    .option(
      '--weights <file>',
      'use VGG-19 with these weights (Keras .h5, MatConvNet .mat, PyTorch .pth, model.json; see docs/style-weights.md)',
    )
    .option('--pooling <max|avg>', 'VGG-19 pooling with --weights (Gatys: avg; default max)')
    .option('--grid <file>', 'also write content | style… | result side by side (.png or .jpg)')
    .action(async (content: string, styles: string[], o: StyleCliOptions) => {
      if (!o.out) throw new VisageError('E_USAGE', "required option '-o, --out <file>' not specified");
      const out = o.out;
      const opts = styleOptionsFrom(o);
      // Outputs first: a typo in -o must not cost the whole optimisation.
      assertOutputFile(out, '--out');
      const ext = path.extname(out).toLowerCase();
      if (!['.png', '.jpg', '.jpeg'].includes(ext))
        throw new VisageError('E_BAD_OPTION', `--out must end in .png, .jpg or .jpeg, got "${out}"`);
      if (o.grid && !['.png', '.jpg', '.jpeg'].includes(path.extname(o.grid).toLowerCase()))
        throw new VisageError('E_BAD_OPTION', `--grid must end in .png, .jpg or .jpeg, got "${o.grid}"`);
      if (o.grid) assertOutputFile(o.grid, '--grid');
      const contentImg = await decodeImage(content);
      const styleImgs = await Promise.all(styles.map((s) => decodeImage(s)));
      // Ctrl-C stops the optimisation; the best image so far is still written.
      const abort = new AbortController();
      const onSigint = () => {
        note('\ninterrupted: writing the best image so far…');
        abort.abort();
      };
      process.once('SIGINT', onSigint);
      let bar: ReturnType<typeof progressBar> | undefined;
      try {
        const r = await stylize(contentImg, styleImgs, {
          ...opts,
          signal: abort.signal,
          onProgress: (p) => {
            bar ??= progressBar('stylising', p.totalSteps, ['J', 'size']);
            bar.update(p.step, { J: p.J.toExponential(3), size: `${p.width}×${p.height}` });
          },
          onPreview: opts.previewEvery
            ? (img, p) =>
                writeImage(out.replace(/(\.\w+)$/, `.preview-${String(p.step).padStart(4, '0')}$1`), img)
            : undefined,
        });
        bar?.stop();
        await writeImage(out, r.image);
        if (o.grid) await writeImage(o.grid, sideBySide([contentImg, ...styleImgs, r.image], r.image.height));
        if (r.stats.aborted) process.exitCode = 130;
        emit({ output: out, stats: r.stats, options: r.options, history: r.history }, () =>
          [
            `wrote ${out} (${r.image.width}×${r.image.height})${r.stats.aborted ? ' — interrupted, best image so far' : ''}`,
            `J_style ${r.stats.initial.Jstyle.toExponential(3)} → ${r.stats.final.Jstyle.toExponential(3)} (${r.stats.styleReduction.toFixed(1)}× lower), J_content ${r.stats.final.Jcontent.toExponential(3)}`,
            `${r.stats.iterations} iterations in ${r.stats.seconds.toFixed(1)} s (${r.stats.secondsPerIteration.toFixed(2)} s/iteration), network ${r.options.network} on ${r.stats.engine === 'onnx' ? `onnxruntime (${r.stats.threads} threads)` : 'tfjs (1 thread)'}`,
          ].join('\n'),
        );
      } finally {
        bar?.stop();
        process.off('SIGINT', onSigint);
        releaseDefaultStyleNetwork();
      }
    });
}

/**
 * `visage style convert-weights <in> <outDir>`: any VGG-19 weights file Visage reads → a Visage model
 * folder (float32, the preprocessing recorded), which then loads as fast as the disk reads.
 */
function registerConvertWeights(style: Command): void {
  style
    .command('convert-weights')
    .description(
      'convert VGG-19 weights (.h5, .mat, .pth, model.json) to a Visage model folder for --weights',
    )
    .argument('<in>', 'VGG-19 weights file')
    .argument('<outDir>', 'folder to write model.json and weights.bin to')
    .option('--until <layer>', 'last layer to keep (conv5_1 is the deepest style transfer uses)', 'conv5_1')
    .action(async (input: string, outDir: string, o: { until: string }) => {
      const w = await loadVgg19Weights(input, { until: o.until });
      saveVgg19Weights(outDir, w);
      const layers = [...w.weights.keys()].filter((k) => k.endsWith('/kernel')).map((k) => k.slice(0, -7));
      const values = [...w.weights.values()].reduce((n, t) => n + t.data.length, 0);
      emit(
        { input, format: w.format, preprocessing: w.preprocessing, output: outDir, layers, values },
        () =>
          `wrote ${outDir} (VGG-19 ${layers[0]}…${layers[layers.length - 1]}, ${(values / 1e6).toFixed(1)} M values, ` +
          `${w.preprocessing} preprocessing, from ${w.format}); use it with visage style --weights ${outDir}`,
      );
    });
}
