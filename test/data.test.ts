import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TEXT_CHARS, readLabelledTexts } from '../src/data/labelled_files';
import { loadNewsgroups } from '../src/data/newsgroups';
import { Random } from '../src/data/random';
import { makeSplit } from '../src/data/split';
import { parseStrip, strip, stripFooter, stripHeader, stripQuotes } from '../src/data/strip';
import { GROUPS, makeNewsgroupsFolder } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

describe('scikit-learn strip rules (hand-checked)', () => {
  const post = 'From: a@b\nSubject: x\n\nIn article <1@c> d writes:\n> quoted\nmy reply\n|also quoted\n\n--\nSig Name\n';
  it('headers: everything up to the first blank line', () => {
    assert.equal(stripHeader(post).split('\n')[0], 'In article <1@c> d writes:');
    assert.equal(stripHeader('no blank line'), '');
  });
  it('quotes: lines that quote or introduce quotes', () => {
    assert.equal(stripQuotes(stripHeader(post)), 'my reply\n\n--\nSig Name\n');
  });
  it('footers: from the last dashes-only line', () => {
    assert.equal(stripFooter('body\n--\nsig'), 'body');
    assert.equal(stripFooter('only text'), 'only text');
  });
  it('all three, in scikit-learn order', () => {
    assert.equal(strip(post, parseStrip('quotes,headers,footers')), 'my reply\n');
    assert.throws(() => parseStrip('headers,bodies'), /--strip takes headers, footers and quotes/);
  });
});

describe('splits', () => {
  it('reads a folder; card split is a seeded 10% of all posts, bydate the official folders', async () => {
    const data = await loadNewsgroups(makeNewsgroupsFolder(10));
    assert.deepEqual(data.labels, GROUPS);
    assert.equal(data.posts.length, 80);
    const a = makeSplit(data, 'card', { seed: 1 });
    const b = makeSplit(data, 'card', { seed: 1 });
    const c = makeSplit(data, 'card', { seed: 2 });
    assert.equal(a.test.length, 8);
    assert.equal(a.train.length, 72);
    assert.deepEqual(a.test.map((p) => p.path), b.test.map((p) => p.path));
    assert.notDeepEqual(a.test.map((p) => p.path), c.test.map((p) => p.path));
    const bydate = makeSplit(data, 'bydate');
    assert.ok(bydate.train.every((p) => p.split === 'train') && bydate.train.length === 40);
  });
  it('permutations are permutations', () => {
    const p = new Random(3).permutation(1000);
    assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  });
});

describe('20 Newsgroups bydate archive', { skip: skipUnlessShared('data', '20news-bydate.tar.gz') }, () => {
  it('has the documented counts, latin-1 text and the anchors\' card split', async () => {
    const data = await loadNewsgroups(sharedPath('data', '20news-bydate.tar.gz'));
    assert.equal(data.posts.length, 18846);
    assert.equal(data.labels.length, 20);
    assert.equal(data.labels[0], 'alt.atheism');
    assert.equal(data.labels[19], 'talk.religion.misc');
    assert.equal(data.posts.filter((p) => p.split === 'train').length, 11314);
    assert.equal(data.posts.filter((p) => p.group === 'comp.graphics').length, 973);
    assert.equal(data.posts.reduce((n, p) => n + p.text.length, 0), 35855003, 'one character per byte');
    const split = makeSplit(data, 'card', { validationList: sharedPath('golden', 'card_split_validation_paths.txt') });
    assert.equal(split.test.length, 1884);
    assert.equal(split.train.length, 16962);
  });
});

describe('Random.derive', () => {
  it('gives unrelated streams for neighbouring keys, and the same stream for the same keys', () => {
    // Raw state words would not: xoshiro128**'s first output depends on word 1 alone.
    const first = Array.from({ length: 200 }, (_, i) => Random.derive(42, 3, i).nextU32());
    assert.equal(new Set(first).size, 200);
    const mean = first.reduce((s, x) => s + x / 2 ** 32, 0) / first.length;
    assert.ok(Math.abs(mean - 0.5) < 0.1, `mean of first draws ${mean}`);
    assert.deepEqual(Random.derive(42, 3, 7).state, Random.derive(42, 3, 7).state);
    assert.throws(() => new Random([1, 2]), /four 32-bit words/);
  });
});

describe('your own data: a text over MAX_TEXT_CHARS', () => {
  it('is cut to its first MAX_TEXT_CHARS characters, the others kept whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'long-data-'));
    const path = join(dir, 'd.jsonl');
    const long = 'orbit '.repeat(200_000) + 'END';
    writeFileSync(path, [JSON.stringify({ text: long, label: 'a' }), JSON.stringify({ text: 'short one', label: 'b' })].join('\n') + '\n');
    const texts = readLabelledTexts(path);
    assert.equal(MAX_TEXT_CHARS, 1_000_000);
    assert.equal(texts[0].text, long.slice(0, 1_000_000));
    assert.equal(texts[1].text, 'short one');
  });
});
