import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadData } from '../src/data/source';
import { makeSplit } from '../src/data/split';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeVocab } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** Four topics, each with its own word among common words (words of fixtures' vocabulary). */
const TOPICS: [string, string][] = [['religion', 'god'], ['graphics', 'pixel'], ['cars', 'engine'], ['space', 'orbit']];
const COMMON = ['the', 'a', 'is', 'and', 'of', 'to'];

function records(perTopic: number, offset: number): { text: string; label: string }[] {
  return TOPICS.flatMap(([label, word]) => Array.from({ length: perTopic }, (_, i) => {
    const n = i + offset;
    return { text: Array.from({ length: 6 + (n % 5) }, (_, k) => (k % 3 === 0 ? word : COMMON[(n + k) % 6])).join(' '), label };
  }));
}

type Format = 'csv' | 'jsonl' | 'folder';

/** The same texts as CSV (with a quoted field holding a comma and a newline), JSON Lines, or label folders. */
function write(dir: string, name: string, format: Format, rows: { text: string; label: string }[]): string {
  if (format === 'folder') {
    const root = join(dir, name);
    rows.forEach((r, i) => {
      mkdirSync(join(root, r.label), { recursive: true });
      writeFileSync(join(root, r.label, `${i}.txt`), r.text);
    });
    return root;
  }
  const path = join(dir, `${name}.${format}`);
  if (format === 'jsonl') writeFileSync(path, rows.map((r) => JSON.stringify({ body: r.text, topic: r.label })).join('\n') + '\n');
  else writeFileSync(path, 'topic,body\n' + rows.map((r, i) => `${r.label},"${i === 0 ? `${r.text}, and\nof the` : r.text}"`).join('\n') + '\n');
  return path;
}

const trainFlags = ['--init', 'scratch', '--vocab', makeVocab(), '--preset', 'small', '--layers', '1', '--dim', '32', '--heads', '2', '--ffn', '64',
  '--max-length', '16', '--batch-size', '4', '--epochs', '30', '--lr', '5e-3', '--no-progress'];

describe('your own data: CSV, JSON Lines, a folder per label', () => {
  for (const format of ['csv', 'jsonl', 'folder'] as Format[]) {
    it(`${format}: trains, evaluates (with the baseline) and serves with the data's own labels`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `own-${format}-`));
      const train = write(dir, 'train', format, records(16, 0));
      const val = write(dir, 'validation', format, records(4, 100));
      const fields = format === 'folder' ? [] : ['--text-field', 'body', '--label-field', 'topic'];
      const data = ['--data', train, '--validation-data', val, ...fields];
      const run = join(dir, 'run');
      const t = cli('train', ...data, ...trainFlags, '--out', run);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stderr, /validation = the 16 texts of --validation-data, training = the other 64/);
      const model = join(run, 'model');
      assert.deepEqual(loadModelDir(model).config.id2label, ['cars', 'graphics', 'religion', 'space'], 'labels from the data, sorted');

      const e = cli('evaluate', '--model', model, ...data, '--baseline', '--json');
      assert.equal(e.status, 0, e.stderr);
      const report = JSON.parse(e.stdout) as { accuracy: number; baseline: { accuracy: number } };
      assert.ok(report.accuracy >= 0.75, `transformer accuracy ${report.accuracy}`);
      assert.ok(report.baseline.accuracy >= 0.75, `baseline accuracy ${report.baseline.accuracy}`);

      const app = buildServer(Classifier.load(loadModelDir(model)), { ...DEFAULT_SERVER_OPTIONS, modelName: format });
      try {
        const base = await app.listen({ host: '127.0.0.1', port: 0 });
        assert.deepEqual(((await (await fetch(`${base}/v1/labels`)).json()) as { labels: string[] }).labels, ['cars', 'graphics', 'religion', 'space']);
        const res = await fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: ['god is the god of god', 'to orbit is to orbit'], top_k: 1 }) });
        const body = (await res.json()) as { results: { predictions: { label: string }[] }[] };
        assert.deepEqual(body.results.map((r) => r.predictions[0].label), ['religion', 'space']);
      } finally {
        await app.close();
      }
    });
  }

  it('--validation-fraction: a seeded random split of the one file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'own-'));
    const { data } = await loadData(write(dir, 'all', 'jsonl', records(10, 0)), { textField: 'body', labelField: 'topic' });
    const a = makeSplit(data, 'card', { seed: 3, fraction: 0.25 });
    assert.equal(a.test.length, 10);
    assert.equal(a.train.length, 30);
    assert.deepEqual(makeSplit(data, 'card', { seed: 3, fraction: 0.25 }).test.map((p) => p.path), a.test.map((p) => p.path));
    assert.match(a.test[0].path, /all\.jsonl:\d+$/, 'each text is known by file and line');
    assert.throws(() => makeSplit(data, 'bydate'), /--split bydate is the 20 Newsgroups archive's own split/);
  });
});

describe('your own data: a bad file is one error line naming the file and line, exit code 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bad-'));
  const good = write(dir, 'good', 'jsonl', records(4, 0));
  const file = (name: string, content: string | Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const cases: [string, string[], RegExp][] = [
    ['bad encoding', ['--data', file('latin.csv', Buffer.concat([Buffer.from('text,label\nfine,a\ncaf'), Buffer.from([0xe9]), Buffer.from(',b\n')]))], /latin\.csv:3: not valid UTF-8 \(give --encoding latin1/],
    ['a missing field', ['--data', file('nolabel.jsonl', '{"text": "a"}\n')], /nolabel\.jsonl:1: no "label" field \(fields: text; choose with --label-field\)/],
    ['an empty text', ['--data', file('empty.csv', 'text,label\nfine,a\n"  ",b\n')], /empty\.csv:3: empty text/],
    ['an empty quoted text over two lines: its first line', ['--data', file('empty2.csv', 'text,label\n"fine\ntext",a\n\n"\n  ",b\n')], /empty2\.csv:5: empty text/],
    ['a header that names a column twice', ['--data', file('twice.csv', 'text,label,text\na,x,b\nc,y,d\n')], /twice\.csv:1: the header names the column "text" twice/],
    ['not JSON', ['--data', file('broken.jsonl', '{"text": "a", "label": "x"}\n{"text": \n')], /broken\.jsonl:2: not JSON/],
    ['a validation label training never saw', ['--data', good, '--text-field', 'body', '--label-field', 'topic', '--validation-data', file('val.jsonl', '{"body": "x", "topic": "religion"}\n{"body": "y", "topic": "poetry"}\n')],
      /val\.jsonl:2: label "poetry" never occurs in the training data/],
    ['one label only', ['--data', file('one.jsonl', '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n')], /one\.jsonl: a classifier needs at least two labels/],
  ];
  for (const [what, args, message] of cases) {
    it(what, () => {
      const out = join(dir, `run-${what.replace(/\W+/g, '-')}`);
      const r = cli('train', ...args, ...trainFlags, '--out', out);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
    });
  }
});
