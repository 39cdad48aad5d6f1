import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVisage } from '../helpers/cli.js';
import { dataDir } from '../helpers/data.js';

// `visage eval identify | pairs` and `visage calibrate` end to end through the CLI (the real detector and
// dlib encoder), on 8 people × 3 colour TV stills: small enough to embed in seconds, real enough to score.
describe('visage eval and calibrate (face-api BBT, 8 people × 3 images)', () => {
  let tmp: string;
  let root: string;
  let env: Record<string, string>;
  const visage = (...args: string[]) => {
    const r = runVisage(['--json', ...args], { env });
    return { ...r, json: JSON.parse(r.stdout) as Record<string, unknown> };
  };

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-eval-'));
    root = path.join(tmp, 'bbt');
    const src = dataDir('faces', 'faceapi_bbt');
    for (const person of fs.readdirSync(src).sort()) {
      fs.mkdirSync(path.join(root, person), { recursive: true });
      for (const k of [1, 2, 3])
        fs.copyFileSync(path.join(src, person, `${person}${k}.png`), path.join(root, person, `${k}.png`));
    }
    env = { VISAGE_CACHE: path.join(tmp, 'cache.sqlite'), VISAGE_THREADS: '1' };
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  let uncached: Record<string, unknown>;

  it('eval identify: one-shot rank-1 and the open-set figure, without touching the cache', () => {
    const r = visage('eval', 'identify', '--root', root, '--no-cache');
    assert.equal(r.status, 0, r.stderr);
    uncached = r.json;
    assert.equal(r.json.identities, 8);
    assert.equal(r.json.probes, 16, 'images 2 and 3 of each person');
    assert.equal(r.json.fallbacks, 0, 'the detector finds every face');
    // The README's figure for the whole set is 100 %; 16 probes of 8 well-separated people stay above 90 %.
    assert.ok((r.json.rank1 as number) >= 0.9, `rank-1 ${String(r.json.rank1)}`);
    const open = r.json.openSet as { heldOutIdentities: number; dir: number; far: number };
    assert.equal(open.heldOutIdentities, 2);
    assert.ok(open.far <= 0.25 && open.dir >= 0 && open.dir <= 1);
    assert.ok(!fs.existsSync(env.VISAGE_CACHE), '--no-cache writes no cache');
  });

  it('eval pairs fills the cache, and a cached rerun of identify gives the same answer', () => {
    const p = visage('eval', 'pairs', '--root', root, '--folds', '2', '--per-fold', '10');
    assert.equal(p.status, 0, p.stderr);
    const summary = p.json.summary as { pairs: number; same: number; different: number; auc: number };
    assert.equal(p.json.folds, 2);
    assert.deepEqual([summary.pairs, summary.same, summary.different], [40, 20, 20]);
    assert.ok(summary.auc > 0.95, `AUC ${summary.auc}`);
    const acc = p.json.accuracy as { mean: number; folds: { threshold: number }[] };
    assert.ok(acc.mean >= 0.9, `accuracy ${acc.mean}`);
    for (const f of acc.folds) assert.ok(f.threshold > 0 && f.threshold < 1);
    assert.ok(fs.existsSync(env.VISAGE_CACHE));
    const again = visage('eval', 'identify', '--root', root);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(again.json, uncached);
  });

  it('calibrate writes a threshold for the model into the file named by -o, and updates it in place', () => {
    const file = path.join(tmp, 'calibration.json');
    const r = visage('calibrate', '--root', root, '--far', 'best-accuracy', '-o', file);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.pairs, (24 * 23) / 2, 'every pair of the 24 images');
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      policies: Record<string, { threshold: number; calibratedOn: { criterion: string } }>;
    };
    const policy = saved.policies[r.json.model as string];
    assert.ok(policy.threshold > 0.05 && policy.threshold < 0.5, `τ ${policy.threshold}`);
    assert.equal(policy.calibratedOn.criterion, 'best-accuracy');
    assert.equal(r.json.heldOut, undefined, '8 people are too few for a 5-fold held-out check');
    const strict = visage('calibrate', '--root', root, '--far', '0.01', '-o', file);
    assert.equal(strict.status, 0, strict.stderr);
    const updated = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof saved;
    assert.deepEqual(Object.keys(updated.policies), Object.keys(saved.policies), 'one policy per model');
    assert.notEqual(updated.policies[r.json.model as string].calibratedOn.criterion, 'best-accuracy');
  });

  it('a CSV pair list without folds is scored on image-disjoint folds, and at the shipped default τ', () => {
    const people = fs.readdirSync(root).sort();
    const img = (p: string, k: number) => `${p}/${k}.png`;
    const lines = ['img1,img2,same'];
    for (let g = 0; g < people.length; g += 2) {
      const [a, b] = [people[g], people[g + 1]];
      // {a1, a2, b1, b2} is one group of shared images, {a3, b3} another: 8 groups in all.
      lines.push(`${img(a, 1)},${img(a, 2)},1`, `${img(b, 1)},${img(b, 2)},1`, `${img(a, 1)},${img(b, 1)},0`);
      lines.push(`${img(a, 3)},${img(b, 3)},0`);
    }
    const csv = path.join(tmp, 'pairs.csv');
    fs.writeFileSync(csv, lines.join('\n') + '\n');
    const r = visage('eval', 'pairs', '--pairs', csv, '--root', root);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.foldsFrom, 'image-groups');
    assert.equal(r.json.folds, 8);
    const shipped = JSON.parse(
      fs.readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'models', 'calibration.json'), 'utf8'),
    ) as { policies: Record<string, { threshold: number }> };
    const at = r.json.atDefaultThreshold as { threshold: number; accuracy: number; far: number; frr: number };
    assert.equal(at.threshold, shipped.policies[r.json.model as string].threshold);
    assert.ok(at.accuracy >= 0 && at.accuracy <= 1 && at.far >= 0 && at.frr >= 0);
    const human = runVisage(['eval', 'pairs', '--pairs', csv, '--root', root], { env });
    assert.match(human.stdout, /image-disjoint folds/);
    assert.match(human.stdout, /at the default τ/);
    assert.match(human.stdout, /in-sample best threshold/);
  });

  it('bad input gets a stable error code and exit status', () => {
    const missing = visage('eval', 'identify', '--root', path.join(tmp, 'nobody'));
    assert.equal(missing.status, 2);
    assert.equal((missing.json.error as { code: string }).code, 'E_BAD_DATASET');
    const usage = visage('calibrate');
    assert.equal(usage.status, 1);
    assert.equal((usage.json.error as { code: string }).code, 'E_USAGE');
    // Checked before any pair is drawn (10 default folds would not fit 8 people: that is the next error).
    const peer = visage('eval', 'pairs', '--root', root, '--peer', 'deepface');
    assert.equal(peer.status, 1);
    assert.equal((peer.json.error as { code: string }).code, 'E_BAD_OPTION');
    const folds = visage('eval', 'pairs', '--root', root);
    assert.equal(folds.status, 2);
    assert.equal((folds.json.error as { code: string }).code, 'E_BAD_DATASET');
  });
});
