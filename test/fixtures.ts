import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random } from '../src/data/random';
import { parseConfig } from '../src/model/config';
import { saveModelDir } from '../src/model/model_dir';
import { ParamStore } from '../src/io/params';
import { BertTokenizer } from '../src/tokenizer';
import { initParams } from '../src/train/init';

export const GROUPS = ['alt.atheism', 'comp.graphics', 'rec.autos', 'sci.space'];
const WORDS = ['god', 'pixel', 'engine', 'orbit', 'the', 'a', 'is', 'and', 'of', 'to'];

/**
 * A miniature bydate folder: for each of four groups, `perGroup` train and test posts made of
 * the group's own topic word among common words (so a model can learn it), with a header.
 */
export function makeNewsgroupsFolder(perGroup = 12): string {
  const dir = mkdtempSync(join(tmpdir(), 'news-'));
  let n = 1000;
  for (const split of ['train', 'test']) {
    GROUPS.forEach((g, gi) => {
      const d = join(dir, `20news-bydate-${split}`, g);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < perGroup; i++) {
        const words = Array.from({ length: 6 + (i % 5) }, (_, k) => (k % 3 === 0 ? WORDS[gi] : WORDS[4 + ((i + k) % 6)]));
        writeFileSync(join(d, String(n++)), `From: user${i}@example.com\nSubject: post ${i}\n\n${words.join(' ')}\n`, 'latin1');
      }
    });
  }
  return dir;
}

/** A vocabulary with BERT's special tokens and the fixture's words. */
export function makeVocab(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vocab-'));
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS, 'from', 'user', '@', 'example', '.', 'com', 'subject', ':', 'post', ...'0123456789'.split(''), ...'0123456789'.split('').map((d) => `##${d}`)];
  const path = join(dir, 'vocab.txt');
  writeFileSync(path, tokens.join('\n') + '\n');
  return path;
}

export const NEWSGROUPS = [
  'alt.atheism', 'comp.graphics', 'comp.os.ms-windows.misc', 'comp.sys.ibm.pc.hardware', 'comp.sys.mac.hardware',
  'comp.windows.x', 'misc.forsale', 'rec.autos', 'rec.motorcycles', 'rec.sport.baseball', 'rec.sport.hockey',
  'sci.crypt', 'sci.electronics', 'sci.med', 'sci.space', 'soc.religion.christian', 'talk.politics.guns',
  'talk.politics.mideast', 'talk.politics.misc', 'talk.religion.misc',
];

/**
 * A small random DistilBERT classifier folder with the 20 newsgroup labels. Weights are drawn
 * wider than HF's init so that the 20 probabilities clearly differ.
 */
export function makeModelDir(maxPositions = 64, configOverrides: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'model-'));
  const vocabPath = makeVocab();
  const tokenizer = BertTokenizer.load(vocabPath);
  const config = parseConfig({
    vocab_size: tokenizer.vocab.size, max_position_embeddings: maxPositions, n_layers: 2, n_heads: 2, dim: 16, hidden_dim: 32,
    initializer_range: 0.5, id2label: Object.fromEntries(NEWSGROUPS.map((l, i) => [String(i), l])), ...configOverrides,
  });
  const params = new ParamStore(config);
  initParams(params, new Random(5));
  saveModelDir(dir, config, params, new BertTokenizer(tokenizer.vocab, { lowercase: true, stripAccents: true }, maxPositions));
  return dir;
}
