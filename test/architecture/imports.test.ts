/**
 * Layers that hold: every import in src/**\/*.ts (static, `export … from`, dynamic `import(...)`, and the
 * worker-task references `sibling(import.meta.url, './x')`) goes to the importer's own layer or a lower
 * one, as declared in ./layers.ts (the order docs/architecture.md describes).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { LAYER_LEVELS, type Layer } from './layers.js';

/** The repository root (this file runs as dist/test/architecture/imports.test.js). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found');
    dir = up;
  }
  return dir;
}

interface Placed {
  layer: Layer;
  level: number;
}

/** The layer of a repository-relative path (longest matching prefix), or undefined. */
export function layerOf(file: string, levels: Layer[][] = LAYER_LEVELS): Placed | undefined {
  let best: (Placed & { len: number }) | undefined;
  levels.forEach((layers, level) => {
    for (const layer of layers)
      for (const p of layer.paths) {
        const hit = p.endsWith('/') ? file.startsWith(p) : file === p;
        if (hit && (!best || p.length > best.len)) best = { layer, level, len: p.length };
      }
  });
  return best && { layer: best.layer, level: best.level };
}

/** Relative module specifiers of a TypeScript source: imports, re-exports, import(), worker tasks. */
export function importsOf(source: string): string[] {
  const specs = ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
  for (const m of source.matchAll(/sibling\(\s*import\.meta\.url\s*,\s*['"]([^'"]+)['"]\s*\)/g))
    specs.push(`${m[1]}.js`);
  return specs;
}

/**
 * Why `from` (repository-relative .ts path) may not import `spec`, or null when it may. The target is
 * resolved to its .ts source path; imports outside src/ (tests never are importers here) are ignored.
 */
export function violation(from: string, spec: string, levels: Layer[][] = LAYER_LEVELS): string | null {
  const target = path.posix
    .normalize(path.posix.join(path.posix.dirname(from), spec))
    .replace(/\.js$/, '.ts');
  if (!target.startsWith('src/')) return `${from} imports '${spec}', outside src/`;
  const a = layerOf(from, levels);
  const b = layerOf(target, levels);
  if (!a) return `${from} is in no layer (add it to test/architecture/layers.ts)`;
  if (!b) return `${from} imports '${spec}' (${target}), which is in no layer`;
  if (a.layer === b.layer || b.level < a.level) return null;
  const how = b.level === a.level ? 'a sibling layer' : 'a higher layer';
  return `${from} (layer ${a.layer.name}) imports '${spec}' from ${how}, ${b.layer.name} (${target})`;
}

/** One import cycle among `graph`'s files (as a path a → … → a), or null when there is none. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | null => {
    if (state.get(f) === 'done') return null;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      const c = visit(t);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return null;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

function sourceFiles(root: string): string[] {
  return fs
    .readdirSync(path.join(root, 'src'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.posix.join('src', f.split(path.sep).join('/')))
    .sort();
}

describe('architecture: import direction', () => {
  test('the checker flags upward, sibling and unplaced imports and lets downward ones through', () => {
    assert.match(
      violation('src/engine/backend.ts', '../training/step.js') ?? '',
      /src\/engine\/backend\.ts \(layer engine\) imports '\.\.\/training\/step\.js' from a higher layer, training/,
    );
    assert.match(violation('src/faces/pipeline.ts', '../style/index.js') ?? '', /sibling layer, style/);
    assert.match(violation('src/nowhere/x.ts', '../errors.js') ?? '', /in no layer/);
    assert.match(violation('src/engine/x.ts', '../../test/helpers/data.js') ?? '', /outside src/);
    assert.equal(violation('src/training/trainer.ts', '../eval/metrics.js'), null);
    assert.equal(violation('src/eval/evaluate.ts', './metrics.js'), null);
    assert.equal(violation('src/util/random.ts', '../errors.js'), null);
    // And the parser sees every kind of import in a synthetic upward source.
    const synthetic = [
      "import { a } from '../training/a.js';",
      "import type { B } from '../training/b.js';",
      "export { c } from '../training/c.js';",
      "const d = await import('../training/d.js');",
      "const e = sibling(import.meta.url, '../training/e');",
      "import fs from 'node:fs';",
    ].join('\n');
    const specs = importsOf(synthetic);
    assert.deepEqual(specs.sort(), [
      '../training/a.js',
      '../training/b.js',
      '../training/c.js',
      '../training/d.js',
      '../training/e.js',
    ]);
    for (const s of specs) assert.ok(violation('src/engine/backend.ts', s), s);
  });

  test('every layer path exists and is declared once', () => {
    const root = repoRoot();
    const all = LAYER_LEVELS.flat().flatMap((l) => l.paths);
    assert.equal(new Set(all).size, all.length);
    // src/server/ is the HTTP service's place; it may not exist yet.
    for (const p of all.filter((p) => p !== 'src/server/'))
      assert.ok(fs.existsSync(path.join(root, p)), `${p} does not exist`);
  });

  test('no file in src/ imports from a higher or sibling layer', () => {
    const root = repoRoot();
    const problems: string[] = [];
    const files = sourceFiles(root);
    assert.ok(files.length > 50, `only ${files.length} source files found under ${root}/src`);
    for (const f of files) {
      if (!layerOf(f)) {
        problems.push(`${f} is in no layer (add it to test/architecture/layers.ts)`);
        continue;
      }
      for (const spec of importsOf(fs.readFileSync(path.join(root, f), 'utf8'))) {
        const v = violation(f, spec);
        if (v) problems.push(v);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('no two files import each other, directly or round a cycle', () => {
    assert.deepEqual(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
      ['a', 'b', 'c', 'a'],
    );
    assert.equal(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
      null,
    );
    const root = repoRoot();
    const graph = new Map<string, string[]>();
    for (const f of sourceFiles(root)) {
      const targets = importsOf(fs.readFileSync(path.join(root, f), 'utf8')).map((s) =>
        path.posix.normalize(path.posix.join(path.posix.dirname(f), s)).replace(/\.js$/, '.ts'),
      );
      // A worker-task module may name itself (sibling(import.meta.url, './tasks')): not a cycle.
      graph.set(
        f,
        targets.filter((t) => t !== f),
      );
    }
    assert.equal(findCycle(graph)?.join(' → ') ?? null, null);
  });
});
