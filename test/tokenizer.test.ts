import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BertTokenizer, Vocab } from '../src/tokenizer';
import { longestFirst, padBatch } from '../src/tokenizer/tokenizer';
import { normalizeBert } from '../src/tokenizer/normalizer';
import { preTokenize } from '../src/tokenizer/pretokenizer';
import { sharedPath, skipUnlessShared } from './shared';

interface Case {
  text: string;
  ids_max512: number[];
  ids_nospecial: number[];
  tokens_nospecial: string[];
}

const vocabSkip = skipUnlessShared('vocab', 'bert-base-uncased-vocab.txt');
const casesSkip = skipUnlessShared('golden', 'tokenizer_cases.jsonl') || vocabSkip;

describe('BERT normalizer and pre-tokenizer (hand-checked)', () => {
  it('removes control characters, maps whitespace, lowercases and strips accents', () => {
    const n = normalizeBert('Héllo\u0000\tWORLD\u00a0Ça\u200b!', { lowercase: true, stripAccents: true });
    // U+200B is a format character (Cf): removed; U+00A0 is whitespace: becomes a space.
    assert.equal(n, 'hello world ca!');
  });
  it('spaces out CJK ideographs but not kana', () => {
    assert.equal(normalizeBert('日本語かな', { lowercase: true, stripAccents: true }), ' 日  本  語 かな');
  });
  it('lowercases character by character (no final-sigma rule) after stripping accents', () => {
    assert.equal(normalizeBert('ΟΔΟΣ', { lowercase: true, stripAccents: true }), 'οδοσ');
    // NFD splits İ into I + U+0307 and the mark is dropped before lowercasing.
    assert.equal(normalizeBert('İ', { lowercase: true, stripAccents: true }), 'i');
    // Without accent stripping, per-character lowercasing of İ gives i + U+0307.
    assert.equal(normalizeBert('İ', { lowercase: true, stripAccents: false }), 'i\u0307');
  });
  it('splits punctuation into words of their own', () => {
    assert.deepEqual(preTokenize("don't  stop--now¿"), ['don', "'", 't', 'stop', '-', '-', 'now', '¿']);
  });
});

describe('WordPiece on a small vocabulary (hand-checked)', () => {
  const vocab = new Vocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'un', '##aff', '##able', 'aff', '!', 'a', '##a']);
  const tok = new BertTokenizer(vocab);
  it('greedy longest match with ## continuation', () => {
    assert.deepEqual(tok.tokenize('Unaffable!'), [4, 5, 6, 8]);
  });
  it('a word with an unknown piece is one [UNK]', () => {
    assert.deepEqual(tok.tokenize('unaffablex aff'), [1, 7]);
  });
  it('words over 100 characters are [UNK]', () => {
    assert.deepEqual(tok.tokenize('a'.repeat(100)), [9, ...new Array(99).fill(10)]);
    assert.deepEqual(tok.tokenize('a'.repeat(101)), [1]);
  });
  it('truncation keeps [CLS] and [SEP] and flags it; padding builds the mask', () => {
    const e = tok.encode('un aff a a a', { maxLength: 4 });
    assert.deepEqual(e, { ids: [2, 4, 7, 3], truncated: true });
    const b = tok.encodeBatch(['un', 'un aff'], 512);
    assert.equal(b.seqLen, 4);
    assert.deepEqual(Array.from(b.inputIds), [2, 4, 3, 0, 2, 4, 7, 3]);
    assert.deepEqual(Array.from(b.attentionMask), [1, 1, 1, 0, 1, 1, 1, 1]);
  });
});

describe('text pairs: [CLS] a [SEP] b [SEP] with LongestFirst truncation (hand-checked from the rule)', () => {
  // Budget M = max_length - 3; s <= l the two lengths: keep all when s + l <= M; else the longer gets
  // max(s, M - s) while that fits; else the shorter floor(M/2), the longer ceil(M/2); equal lengths
  // count the first text as the shorter.
  const table: [number, number, number, [number, number]][] = [
    [3, 4, 10, [3, 4]], [5, 5, 10, [5, 5]], [5, 6, 10, [5, 5]], [3, 20, 10, [3, 7]], [20, 3, 10, [7, 3]], [0, 20, 10, [0, 10]],
    [6, 8, 10, [5, 5]], [8, 6, 10, [5, 5]], [6, 8, 9, [4, 5]], [8, 6, 9, [5, 4]], [7, 7, 9, [4, 5]], [2, 30, 9, [2, 7]],
    [12, 15, 9, [4, 5]], [15, 12, 9, [5, 4]], [4, 6, 9, [4, 5]], [6, 4, 9, [5, 4]], [1, 1, 0, [0, 0]], [2, 9, 1, [0, 1]],
  ];
  for (const [n1, n2, budget, want] of table) {
    it(`${n1} + ${n2} tokens in a budget of ${budget} keep ${want.join(' + ')}`, () => assert.deepEqual(longestFirst(n1, n2, budget), want));
  }
  const vocab = new Vocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  const tok = new BertTokenizer(vocab);
  it('encodes the pair with token types 0 then 1, and pads types with 0', () => {
    assert.deepEqual(tok.encodePair('a b', 'c d e'), { ids: [2, 4, 5, 3, 6, 7, 8, 3], typeIds: [0, 0, 0, 0, 1, 1, 1, 1], truncated: false });
    const e = tok.encodePair('a b c d e f', 'g h', { maxLength: 7 });
    assert.deepEqual(e, { ids: [2, 4, 5, 3, 10, 11, 3], typeIds: [0, 0, 0, 0, 1, 1, 1], truncated: true });
    const batch = padBatch([tok.encode('a'), tok.encodePair('b', 'c')], tok.padId);
    assert.deepEqual(Array.from(batch.tokenTypes), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    assert.throws(() => tok.encodePair('a', 'b', { maxLength: 2 }), /max length 2 leaves no room/);
  });
  it('cuts two texts longer than the budget by which is longer, read whole', () => {
    const long = (n: number) => Array.from({ length: n }, () => 'a').join(' ');
    const e = tok.encodePair(long(3000), long(2500), { maxLength: 512 });
    assert.equal(e.ids.length, 512);
    assert.equal(e.typeIds!.filter((t) => t === 0).length, 2 + 255, 'the longer first text keeps ceil(509 / 2)');
  });
});

describe('BERT uncased tokenizer vs HF tokenizers golden cases', () => {
  it('truncation reads only the start it keeps: every row at lengths 3 to 300 is the golden tokens cut there', { skip: casesSkip }, () => {
    const tok = BertTokenizer.load(sharedPath('vocab', 'bert-base-uncased-vocab.txt'));
    const rows = readFileSync(sharedPath('golden', 'tokenizer_cases.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Case);
    // A long text's golden tokens repeated: a text of about 3 MB with its tokens known.
    const longest = rows.reduce((a, b) => (b.text.length > a.text.length ? b : a));
    const copies = Math.ceil(3e6 / longest.text.length);
    const huge = { text: Array(copies).fill(longest.text).join('\n'), ids_nospecial: Array(copies).fill(longest.ids_nospecial).flat() };
    for (const c of [...rows, huge]) {
      for (const maxLength of [3, 17, 130, 300]) {
        const e = tok.encode(c.text, { maxLength });
        assert.deepEqual(e.ids, [101, ...c.ids_nospecial.slice(0, maxLength - 2), 102], `${JSON.stringify(c.text.slice(0, 40))} at ${maxLength}`);
        assert.equal(e.truncated, c.ids_nospecial.length > maxLength - 2);
      }
    }
  });

  it('matches ids_max512 and ids_nospecial on every row', { skip: casesSkip }, () => {
    const tok = BertTokenizer.load(sharedPath('vocab', 'bert-base-uncased-vocab.txt'));
    const lines = readFileSync(sharedPath('golden', 'tokenizer_cases.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.length >= 234, 'golden file has its rows');
    let failures = 0;
    for (const [i, line] of lines.entries()) {
      const c = JSON.parse(line) as Case;
      const nospecial = tok.tokenize(c.text);
      const max512 = tok.encode(c.text, { maxLength: 512 }).ids;
      if (JSON.stringify(nospecial) !== JSON.stringify(c.ids_nospecial) || JSON.stringify(max512) !== JSON.stringify(c.ids_max512)) {
        failures++;
        if (failures <= 5) {
          const got = nospecial.map((id) => tok.vocab.idToToken[id]);
          const k = got.findIndex((t, j) => t !== c.tokens_nospecial[j]);
          console.error(`row ${i}: first difference at token ${k}: got ${JSON.stringify(got.slice(k, k + 5))}, want ${JSON.stringify(c.tokens_nospecial.slice(k, k + 5))}`);
        }
      }
    }
    assert.equal(failures, 0, `${failures} of ${lines.length} rows differ`);
  });

  it('reads the same vocabulary from a tokenizer.json', { skip: skipUnlessShared('vocab', 'bert-uncased-tokenizer.json') || vocabSkip }, () => {
    const a = Vocab.fromVocabTxt(sharedPath('vocab', 'bert-base-uncased-vocab.txt'));
    const b = Vocab.fromTokenizerJson(sharedPath('vocab', 'bert-uncased-tokenizer.json'));
    assert.equal(a.size, 30522);
    assert.deepEqual(b.idToToken, a.idToToken);
  });

  it('honours tokenizer_config.json do_lower_case=false in a model folder', { skip: vocabSkip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    writeFileSync(join(dir, 'vocab.txt'), readFileSync(sharedPath('vocab', 'bert-base-uncased-vocab.txt')));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, model_max_length: 512 }));
    const cased = BertTokenizer.load(dir);
    // 'Hello' is not in the uncased vocabulary as a whole word: without lowercasing it splits.
    assert.notDeepEqual(cased.tokenize('Hello'), [7592]);
    assert.deepEqual(BertTokenizer.load(sharedPath('vocab', 'bert-base-uncased-vocab.txt')).tokenize('Hello'), [7592]);
  });
});

describe('token and word spans (return_offsets_mapping)', () => {
  const vocab = new Vocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'un', '##aff', '##able', 'aff', '!', 'a', '##a', 'cafe', '日', '[MASK]']);
  const tok = new BertTokenizer(vocab);
  it('spans hold the original characters, pieces split their word, punctuation is a word (hand-checked)', () => {
    const text = 'Café\u0000 UNAFFABLE! 日x [MASK]';
    const s = tok.spans(text);
    assert.deepEqual(s.tokens.map((t) => t.id), tok.tokenize(text));
    assert.deepEqual(s.tokens.map((t) => text.slice(t.start, t.end)), ['Café', 'UN', 'AFF', 'ABLE', '!', '日', 'x', '[MASK]']);
    assert.deepEqual(s.tokens.map((t) => t.word), [0, 1, 1, 1, 2, 3, 4, 5]);
    assert.deepEqual(s.words.map((w) => text.slice(w.start, w.end)), ['Café', 'UNAFFABLE', '!', '日', 'x', '[MASK]']);
  });
  it('spans count UTF-16 code units: characters outside the BMP take two', () => {
    const text = '😀 aff';
    const s = tok.spans(text);
    assert.deepEqual(s.words, [{ start: 0, end: 2 }, { start: 3, end: 6 }]);
    assert.deepEqual(s.tokens.map((t) => t.id), [1, 7]);
  });

  it('every golden case: the same ids as tokenize(), and each word slice normalizes to its pieces joined', { skip: casesSkip }, () => {
    const big = BertTokenizer.load(sharedPath('vocab', 'bert-base-uncased-vocab.txt'));
    const rows = readFileSync(sharedPath('golden', 'tokenizer_cases.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Case);
    let words = 0;
    for (const c of rows) {
      const s = big.spans(c.text);
      assert.deepEqual(s.tokens.map((t) => t.id), c.ids_nospecial, JSON.stringify(c.text.slice(0, 40)));
      s.words.forEach((w, k) => {
        const pieces = s.tokens.filter((t) => t.word === k).map((t) => c.tokens_nospecial[s.tokens.indexOf(t)]);
        const slice = c.text.slice(w.start, w.end);
        // [UNK] (a word it stands for whole) and special tokens written in the text: the slice reads as that token.
        if (pieces.length === 1 && /^\[[A-Z]+\]$/.test(pieces[0])) assert.deepEqual(big.tokenize(slice), [big.vocab.id(pieces[0])]);
        else assert.equal(preTokenize(normalizeBert(slice, { lowercase: true, stripAccents: true })).join(''), pieces.map((p) => p.replace(/^##/, '')).join(''), `${JSON.stringify(slice)} in ${JSON.stringify(c.text.slice(0, 40))}`);
        words++;
      });
    }
    assert.ok(words > 10000, `${words} words checked`);
  });
});
