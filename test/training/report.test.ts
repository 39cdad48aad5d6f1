import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import {
  binCounts,
  formatNumber,
  niceTicks,
  renderTrainingReport,
  writeTrainingReport,
  type EpochRecord,
  type TrainingReportData,
} from '../../src/training/report/index.js';
import { Rng } from '../../src/training/data/index.js';

const VOID = new Set([
  'meta',
  'link',
  'br',
  'hr',
  'img',
  'input',
  'col',
  'area',
  'base',
  'wbr',
  'source',
  'track',
]);

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

/**
 * A strict little HTML tokenizer/tree builder: every non-void element must be closed in order, attributes
 * must be quoted and unique, and '<' may not appear unescaped in text. Enough to prove the report is
 * well-formed and to query it.
 */
function parseHtml(html: string): Element {
  const root: Element = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: Element[] = [root];
  let i = 0;
  const rawText = new Set(['style', 'title']);
  while (i < html.length) {
    const top = stack[stack.length - 1];
    if (html.startsWith('<!DOCTYPE', i)) {
      i = html.indexOf('>', i) + 1;
      continue;
    }
    if (html[i] !== '<') {
      const end = html.indexOf('<', i);
      const text = html.slice(i, end < 0 ? html.length : end);
      assert.ok(
        !/&(?![a-z]+;|#\d+;)/i.test(text) || rawText.has(top.name),
        `bare & in text: ${text.slice(0, 60)}`,
      );
      top.text += text;
      i = end < 0 ? html.length : end;
      continue;
    }
    const close = html.indexOf('>', i);
    assert.ok(close > 0, 'unterminated tag');
    const tag = html.slice(i + 1, close);
    i = close + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      assert.equal(name, top.name, `</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const m = /^([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)$/.exec(tag);
    assert.ok(m, `malformed tag <${tag.slice(0, 80)}>`);
    const el: Element = { name: m[1], attrs: {}, children: [], text: '' };
    for (const a of m[2].matchAll(/([\w:-]+)="([^"]*)"/g)) {
      assert.ok(!(a[1] in el.attrs), `duplicate attribute ${a[1]}`);
      el.attrs[a[1]] = a[2];
    }
    top.children.push(el);
    if (m[3] === '/' || VOID.has(el.name)) continue;
    if (rawText.has(el.name)) {
      const end = html.indexOf(`</${el.name}>`, i);
      el.text = html.slice(i, end);
      i = end + el.name.length + 3;
      continue;
    }
    stack.push(el);
  }
  assert.equal(stack.length, 1, `unclosed: ${stack.map((e) => e.name).join(' > ')}`);
  return root;
}

function all(el: Element, name: string): Element[] {
  return el.children.flatMap((c) => [...(c.name === name ? [c] : []), ...all(c, name)]);
}
function textOf(el: Element): string {
  return el.text + el.children.map(textOf).join('');
}

/** A plausible 12-epoch run: loss falling, validation rising (numbers with ≤ 4 significant digits). */
function epochs(n = 12): EpochRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    epoch: i + 1,
    loss: +(0.2 * Math.exp(-i / 4) + 0.01).toFixed(4),
    activeFraction: +(0.9 * Math.exp(-i / 5)).toFixed(3),
    meanDap: +(0.8 - i * 0.03).toFixed(3),
    meanDan: +(0.9 + i * 0.05).toFixed(3),
    valAccuracy: +(0.7 + 0.25 * (1 - Math.exp(-i / 3))).toFixed(4),
    valThreshold: +(0.9 + i * 0.01).toFixed(3),
    valAuc: +(0.75 + 0.24 * (1 - Math.exp(-i / 3))).toFixed(4),
    valRank1: +(0.6 + 0.35 * (1 - Math.exp(-i / 3))).toFixed(3),
    seconds: +(20 + i * 0.37).toFixed(2),
  }));
}

function normalSamples(seed: number, n: number, mean: number, sd: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = 1 - rng.next();
    return Math.max(0, mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next()));
  });
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-report-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const fullData = (): TrainingReportData => ({
  title: 'ORL from scratch <batch-hard> & friends',
  hyperParameters: {
    loss: 'triplet',
    mining: 'batch-hard',
    margin: 0.2,
    P: 8,
    K: 4,
    optimiser: 'adam',
    'learning rate': 0.001,
    augment: true,
    'val identities': ['s3', 's10'],
    seed: 1234,
  },
  epochs: epochs(),
  histogramsBefore: { same: normalSamples(1, 450, 0.9, 0.25), different: normalSamples(2, 4000, 1.05, 0.25) },
  histogramsAfter: { same: normalSamples(3, 450, 0.45, 0.2), different: normalSamples(4, 4000, 1.4, 0.2) },
  notes: ['dataset att_orl, 30 train / 10 validation identities'],
  createdAt: new Date('2025-01-02T03:04:05Z'),
});

describe('training report', () => {
  it('writes one well-formed, self-contained report.html with 6 charts and every number', async () => {
    const data = fullData();
    const file = path.join(tmp, 'run', 'report.html');
    writeTrainingReport(file, data);
    const html = fs.readFileSync(file, 'utf8');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['report.html'], 'no temp file left behind');
    const doc = parseHtml(html);
    const svgs = all(doc, 'svg');
    assert.equal(svgs.length, 6);
    // Self-contained: no scripts, no external references.
    assert.equal(all(doc, 'script').length, 0);
    assert.equal(all(doc, 'link').length, 0);
    assert.ok(!/\b(src|href)="/.test(html));
    assert.ok(!/url\(/.test(html));
    // The title is escaped, not interpreted.
    assert.equal(textOf(all(doc, 'h1')[0]), 'ORL from scratch &lt;batch-hard&gt; &amp; friends');
    // Every per-epoch number appears in the epoch table, and every hyper-parameter in its table.
    const tables = all(doc, 'table');
    assert.equal(tables.length, 2);
    const rows = all(tables[1], 'tr').slice(1);
    assert.equal(rows.length, 12);
    data.epochs.forEach((e, r) => {
      const cells = all(rows[r], 'td').map(textOf);
      assert.deepEqual(
        cells,
        [
          e.epoch,
          e.loss,
          e.activeFraction,
          e.meanDap,
          e.meanDan,
          e.valAccuracy,
          e.valThreshold,
          e.valAuc,
          e.valRank1,
          e.seconds,
        ].map((v) => String(v)),
      );
    });
    const hyper = all(tables[0], 'tr')
      .slice(1)
      .map((tr) => all(tr, 'td').map(textOf));
    assert.deepEqual(hyper[2], ['margin', '0.2']);
    assert.deepEqual(hyper[6], ['learning rate', '0.001']);
    assert.deepEqual(hyper[8], ['val identities', 's3, s10']);
    // The best epoch is highlighted, and the summary shows the final numbers.
    const best = data.epochs.reduce((b, e) => (e.valAccuracy! > b.valAccuracy! ? e : b));
    assert.equal(all(rows[best.epoch - 1], 'td')[0].text, String(best.epoch));
    assert.equal(rows.filter((r) => r.attrs.class === 'best').length, 1);
    assert.match(
      textOf(doc),
      new RegExp(`best val accuracy${(best.valAccuracy! * 100).toPrecision(4)}%epoch ${best.epoch}`),
    );
    // Histogram legends carry the pair counts; the "after" chart marks the last threshold.
    assert.match(html, /same person \(n = 450\)/);
    assert.match(html, /different people \(n = 4000\)/);
    assert.match(html, new RegExp(`threshold ${data.epochs[11].valThreshold}`));
    // The SVGs render (librsvg via sharp) to non-blank images.
    assert.ok(svgs.every((s) => s.attrs.viewBox === '0 0 560 300'));
    for (const m of html.matchAll(/<svg[\s\S]*?<\/svg>/g)) {
      const { data: px, info } = await sharp(Buffer.from(m[0]))
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 560);
      let dark = 0;
      for (const v of px) if (v < 200) dark++;
      assert.ok(dark > 500, `chart has ink (${dark} dark pixels)`);
    }
  });

  it('the histograms share bins: fractions per series sum to 1 and the two charts use one x axis', () => {
    const html = renderTrainingReport(fullData());
    const charts = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    const hist = charts.filter((c) => c.includes('Validation distances'));
    assert.equal(hist.length, 2);
    const ticks = (svg: string) => [...svg.matchAll(/class="xt">([^<]*)</g)].map((m) => m[1]);
    assert.deepEqual(ticks(hist[0]), ticks(hist[1]));
    const yTicks = (svg: string) => [...svg.matchAll(/class="yt">([^<]*)</g)].map((m) => m[1]);
    assert.deepEqual(yTicks(hist[0]), yTicks(hist[1]), 'shared y scale');
    assert.deepEqual(binCounts([0, 0.5, 0.99, 1, 1.5, NaN, -1], 0, 1, 2), [1, 3]);
  });

  it('without validation or histograms: only the 3 training charts, no empty columns', () => {
    const data: TrainingReportData = {
      hyperParameters: { mining: 'random' },
      epochs: epochs(3).map(({ epoch, loss, activeFraction, meanDap, meanDan, seconds }) => ({
        epoch,
        loss,
        activeFraction,
        meanDap,
        meanDan,
        seconds,
      })),
    };
    const doc = parseHtml(renderTrainingReport(data));
    assert.equal(all(doc, 'svg').length, 3);
    assert.deepEqual(all(all(doc, 'table')[1], 'th').map(textOf), [
      'epoch',
      'loss',
      'active',
      'd(A,P)',
      'd(A,N)',
      'seconds',
    ]);
    // Only "after" given: 4 charts.
    const one = renderTrainingReport({
      ...data,
      histogramsAfter: { same: [0.1, 0.2], different: [0.9, 1.1] },
    });
    assert.equal(all(parseHtml(one), 'svg').length, 4);
    // A single epoch and NaN values still render.
    const single = renderTrainingReport({ ...data, epochs: [{ ...data.epochs[0], loss: NaN }] });
    assert.equal(all(parseHtml(single), 'svg').length, 3);
  });

  it('lists the held-out identities worst first, with their error rates', () => {
    const doc = parseHtml(
      renderTrainingReport({
        ...fullData(),
        heldOut: [
          { name: 's1', falseReject: 0, falseAccept: 0.02 },
          { name: 's<2>', falseReject: 0.5, falseAccept: 0 },
          { name: 's3', falseReject: NaN, falseAccept: 0.1 },
          { name: 's4', falseReject: 0, falseAccept: 0.2 },
        ],
      }),
    );
    const table = all(doc, 'table').find((t) => all(t, 'th').map(textOf).includes('false rejects'));
    assert.ok(table, 'a held-out identities table');
    const rows = all(table, 'tr')
      .slice(1)
      .map((r) => all(r, 'td').map(textOf));
    assert.deepEqual(rows, [
      ['s&lt;2&gt;', '50.0%', '0.0%'],
      ['s4', '0.0%', '20.0%'],
      ['s1', '0.0%', '2.0%'],
      ['s3', '–', '10.0%'],
    ]);
    assert.equal(
      all(parseHtml(renderTrainingReport(fullData())), 'table').length,
      2,
      'no table without data',
    );
  });

  it('formats numbers and ticks predictably', () => {
    assert.equal(formatNumber(0.123456), '0.1235');
    assert.equal(formatNumber(0.95), '0.95');
    assert.equal(formatNumber(12), '12');
    assert.equal(formatNumber(1234.5678), '1235');
    assert.equal(formatNumber(null), '—');
    assert.equal(formatNumber(2e-7), '2e-7');
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(1, 12, 8), [2, 4, 6, 8, 10, 12]);
  });
});
