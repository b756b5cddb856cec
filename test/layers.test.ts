import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(__dirname, '..', '..');
const SRC = join(ROOT, 'src');

/**
 * The layers of src/, bottom to top (README.md, "Layout"): a file may import from its own layer
 * and those below, never from one above. src/index.ts, the library API, sits with the CLI on top.
 */
const LAYERS: string[][] = [
  ['tokenizer', 'engine', 'maths'],
  ['io'],
  ['model', 'data', 'export', 'eval', 'baseline'],
  ['hybrid'],
  ['pipeline'],
  ['train', 'serve'],
  ['pretrain', 'hybrid_build', 'bench'],
  ['cli', 'index.ts'],
];

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(name) ? [p] : [];
  });
}

/** The layer of a file under src/: its top folder's (or, for a file at the top, its own name's). */
function layerOf(file: string): number {
  const top = relative(SRC, file).split('/')[0];
  const i = LAYERS.findIndex((l) => l.includes(top));
  assert.ok(i >= 0, `src/${top} is in no layer: add it to LAYERS (and README.md's layout)`);
  return i;
}

/** Relative imports of a TypeScript file, as absolute paths without extension. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]));
}

describe('structure', () => {
  it('no import goes from a lower layer of src/ to a higher one', () => {
    const upward: string[] = [];
    for (const file of files(SRC, /\.ts$/)) {
      for (const target of imports(file)) {
        const from = layerOf(file), to = layerOf(target);
        if (to > from) upward.push(`${relative(ROOT, file)} (layer ${from}) imports ${relative(ROOT, target)} (layer ${to})`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('the check sees an upward import (a model file importing the pipeline)', () => {
    assert.ok(layerOf(join(SRC, 'model', 'x.ts')) < layerOf(join(SRC, 'pipeline', 'classifier')));
    assert.ok(imports(join(SRC, 'pipeline', 'classifier.ts')).includes(join(SRC, 'model', 'model_dir')));
  });

  it('no source file outside tests is over 600 lines', () => {
    const sources = [
      ...files(SRC, /\.ts$/), ...files(join(ROOT, 'bench'), /\.(ts|py)$/), ...files(join(ROOT, 'scripts'), /\.sh$/),
      ...files(join(ROOT, 'native'), /\.(cc|h|cu|cuh)$/).filter((f) => !relative(ROOT, f).startsWith('native/tests/')),
    ];
    assert.ok(sources.length > 50, `found ${sources.length} sources`);
    const long = sources.map((f) => ({ f: relative(ROOT, f), n: readFileSync(f, 'utf8').split('\n').length - 1 })).filter((x) => x.n > 600);
    assert.deepEqual(long, []);
  });
});
