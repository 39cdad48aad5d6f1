/**
 * Every name the package entry exports has a doc comment (face_recognition's api.py is the model: a user
 * reads the units and defaults where the name is), checked with the TypeScript compiler on the sources.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../helpers/data.js';

function undocumented(entry: string): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, `${entry} compiles`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol);
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (target.getDocumentationComment(checker).length === 0) missing.push(exported.getName());
  }
  return missing;
}

test("every export of 'visage' has a doc comment", () => {
  assert.deepEqual(undocumented(path.join(repoRoot, 'src', 'index.ts')), []);
});
