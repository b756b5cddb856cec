import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { sharedPath, skipUnlessShared } from './shared';

const ROOT = join(__dirname, '..', '..');

/** The README's TypeScript example: its one ```ts block. */
function example(): string {
  const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'README.md has one TypeScript example');
  return blocks[0];
}

describe('README.md library example', () => {
  it('is at most 10 lines and type-checks against the library API (strict)', () => {
    const code = example();
    assert.ok(code.trim().split('\n').length <= 10, `${code.trim().split('\n').length} lines`);
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    const file = join(dir, 'example.ts');
    writeFileSync(file, code);
    // src/io/jsfive.d.ts types the one untyped dependency, as tsconfig.json's include does.
    const program = ts.createProgram([file, join(ROOT, 'src', 'io', 'jsfive.d.ts')], {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true,
      skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], baseUrl: ROOT, paths: { 'bert-20news': ['src/index.ts'] },
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(errors, []);
  });

  it('runs on the golden tiny model: three labels of its config, scores falling and summing to at most 1', { skip: skipUnlessShared('golden', 'tiny') }, () => {
    const js = ts.transpileModule(example(), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText
      .replace(/require\("bert-20news"\)/, `require(${JSON.stringify(ROOT)})`);
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    writeFileSync(join(dir, 'example.js'), js);
    const model = sharedPath('golden', 'tiny');
    const r = spawnSync(process.execPath, [join(dir, 'example.js'), model], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const labels = Object.values(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')).id2label as Record<string, string>);
    const lines = r.stdout.trim().split('\n').map((l) => /^(\d\.\d{4}) {2}(\S+)$/.exec(l));
    assert.equal(lines.length, 3);
    const scores = lines.map((m) => {
      assert.ok(m, 'score and label');
      assert.ok(labels.includes(m[2]), `${m[2]} is a label of the model`);
      return Number(m[1]);
    });
    assert.ok(scores[0] >= scores[1] && scores[1] >= scores[2] && scores.reduce((a, b) => a + b) <= 1.0001);
  });
});
