import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeBert, NormalizerOptions } from './normalizer';
import { Spans, tokenizeWithSpans } from './offsets';
import { preTokenize } from './pretokenizer';
import { Vocab } from './vocab';
import { WordPiece } from './wordpiece';

export interface Encoding {
  ids: number[];
  /** token_type_ids: 0 for [CLS] a [SEP], 1 for b [SEP] of a text pair; absent: all 0. */
  typeIds?: number[];
  /** True when tokens were dropped to fit maxLength. */
  truncated: boolean;
}

export interface EncodeOptions {
  /** Longest output, special tokens included; undefined = no truncation. */
  maxLength?: number;
  addSpecialTokens?: boolean;
}

/** A padded batch, row-major [batch, seqLen], ready for the engine. */
export interface Batch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  /** token_type_ids (0 where an encoding has none, and at padding). */
  tokenTypes: Int32Array;
  batchSize: number;
  seqLen: number;
  truncated: boolean[];
}

/** HF's added special tokens for BERT: matched in raw text, case-sensitive, never split. */
const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** BERT uncased tokenizer: BertNormalizer + BertPreTokenizer + WordPiece + [CLS] x [SEP]. */
export class BertTokenizer {
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly unkId: number;
  private readonly wordPiece: WordPiece;
  /** Matches special tokens written in the text; they are kept whole, before normalization. */
  private readonly specialPattern: RegExp;

  constructor(
    readonly vocab: Vocab,
    private readonly normalizer: NormalizerOptions = { lowercase: true, stripAccents: true },
    readonly modelMaxLength = 512,
  ) {
    this.clsId = vocab.id('[CLS]');
    this.sepId = vocab.id('[SEP]');
    this.padId = vocab.id('[PAD]');
    this.unkId = vocab.id('[UNK]');
    this.wordPiece = new WordPiece(vocab, this.unkId);
    const specials = SPECIAL_TOKENS.filter((t) => vocab.tokenToId.has(t));
    this.specialPattern = new RegExp(`(${specials.map((t) => t.replace(/[[\]]/g, '\\$&')).join('|')})`);
  }

  /**
   * Loads from a vocab.txt, a tokenizer.json, or a model folder holding either (vocab.txt first),
   * with tokenizer_config.json's do_lower_case / strip_accents / model_max_length when present.
   */
  static load(path: string): BertTokenizer {
    if (!existsSync(path)) throw new Error(`tokenizer path ${path} does not exist`);
    if (!statSync(path).isDirectory()) {
      const vocab = path.endsWith('.json') ? Vocab.fromTokenizerJson(path) : Vocab.fromVocabTxt(path);
      return new BertTokenizer(vocab);
    }
    const vocabTxt = join(path, 'vocab.txt');
    const tokJson = join(path, 'tokenizer.json');
    let vocab: Vocab;
    if (existsSync(vocabTxt)) vocab = Vocab.fromVocabTxt(vocabTxt);
    else if (existsSync(tokJson)) vocab = Vocab.fromTokenizerJson(tokJson);
    else throw new Error(`${path} has neither vocab.txt nor tokenizer.json`);
    const cfg = readTokenizerConfig(join(path, 'tokenizer_config.json'));
    return new BertTokenizer(vocab, cfg.normalizer, cfg.modelMaxLength);
  }

  /** The same tokenizer with another default maximum length. */
  withMaxLength(modelMaxLength: number): BertTokenizer {
    return new BertTokenizer(this.vocab, this.normalizer, modelMaxLength);
  }

  get lowercase(): boolean {
    return this.normalizer.lowercase;
  }

  get normalizerOptions(): NormalizerOptions {
    return { ...this.normalizer };
  }

  /** Token ids of the whole text, no special tokens. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    // split() with a capturing group puts the matched special tokens at the odd indices.
    text.split(this.specialPattern).forEach((part, i) => {
      if (i % 2 === 1) {
        ids.push(this.vocab.id(part));
        return;
      }
      for (const word of preTokenize(normalizeBert(part, this.normalizer))) {
        for (const id of this.wordPiece.encodeWord(word)) ids.push(id);
      }
    });
    return ids;
  }

  /**
   * Every token of the whole text (no special tokens) with the span of original characters it was
   * read from and the word it belongs to (tokenizer/offsets.ts): the same ids as tokenize(text).
   */
  spans(text: string): Spans {
    return tokenizeWithSpans(text, {
      specialPattern: this.specialPattern,
      lowercase: this.normalizer.lowercase,
      stripAccents: this.normalizer.stripAccents,
      specialId: (token) => this.vocab.id(token),
      encodeWord: (word) => this.wordPiece.encodeWord(word),
      pieceLength: (id) => Array.from(this.vocab.idToToken[id].replace(/^##/, '')).length,
    });
  }

  encode(text: string, opts: EncodeOptions = {}): Encoding {
    const special = opts.addSpecialTokens ?? true;
    let ids: number[];
    let truncated = false;
    if (opts.maxLength !== undefined) {
      const room = opts.maxLength - (special ? 2 : 0);
      if (room < 0) throw new Error(`max length ${opts.maxLength} leaves no room for [CLS] and [SEP]`);
      ids = this.tokenizeAtLeast(text, room + 1);
      if (ids.length > room) {
        ids = ids.slice(0, room);
        truncated = true;
      }
    } else {
      ids = this.tokenize(text);
    }
    if (special) ids = [this.clsId, ...ids, this.sepId];
    return { ids, truncated };
  }

  /**
   * A text pair as `[CLS] a [SEP] b [SEP]` with token types 0 and 1, truncated as the Rust tokenizers
   * library's LongestFirst strategy does (longestFirst below).
   */
  encodePair(a: string, b: string, opts: { maxLength?: number } = {}): Encoding {
    let first: number[], second: number[];
    let truncated = false;
    if (opts.maxLength !== undefined) {
      const budget = opts.maxLength - 3;
      if (budget < 0) throw new Error(`max length ${opts.maxLength} leaves no room for [CLS] and two [SEP]`);
      // At most budget + 1 tokens of each decide the cut, unless both texts have that many: then
      // which one is longer does, and both are read whole.
      first = this.tokenizeAtLeast(a, budget + 1);
      second = this.tokenizeAtLeast(b, budget + 1);
      if (first.length > budget && second.length > budget) {
        first = this.tokenize(a);
        second = this.tokenize(b);
      }
      const [k1, k2] = longestFirst(first.length, second.length, budget);
      truncated = k1 < first.length || k2 < second.length;
      first = first.slice(0, k1);
      second = second.slice(0, k2);
    } else {
      first = this.tokenize(a);
      second = this.tokenize(b);
    }
    const ids = [this.clsId, ...first, this.sepId, ...second, this.sepId];
    const typeIds = ids.map((_, i) => (i < first.length + 2 ? 0 : 1));
    return { ids, typeIds, truncated };
  }

  /**
   * The first tokens of a text, at least `n` of them where it has that many, reading only as much
   * of it as that takes: prefixes cut at a space, tab or line break (which every BERT tokenizer
   * splits at, and no token crosses, special ones included) tokenize to the whole text's first
   * tokens, so a long text costs what its kept part costs. A prefix of 16 characters a token
   * mostly suffices; it grows fourfold until it does.
   */
  private tokenizeAtLeast(text: string, n: number): number[] {
    for (let chars = Math.max(1024, 16 * n); ; chars *= 4) {
      if (chars >= text.length) return this.tokenize(text);
      const cut = text.slice(0, chars).search(/[ \t\n\r][^ \t\n\r]*$/);
      if (cut > 0) {
        const ids = this.tokenize(text.slice(0, cut));
        if (ids.length >= n) return ids;
      }
    }
  }

  /** Encodes texts with [CLS]/[SEP], truncates to maxLength and pads to the longest row. */
  encodeBatch(texts: string[], maxLength = this.modelMaxLength): Batch {
    return padBatch(texts.map((t) => this.encode(t, { maxLength })), this.padId);
  }
}

/**
 * Tokens kept of a pair's two texts (n1, n2 tokens) within `budget` (max length less the three
 * special tokens), as the tokenizers library's LongestFirst: with s <= l the shorter and longer
 * lengths, nothing is cut when they fit; else the longer is cut to max(s, budget - s) while that
 * fits; else the shorter keeps floor(budget / 2) and the longer ceil(budget / 2). Equal lengths count
 * the first text as the shorter.
 */
export function longestFirst(n1: number, n2: number, budget: number): [number, number] {
  if (n1 + n2 <= budget) return [n1, n2];
  const swap = n1 > n2;
  const short = Math.min(n1, n2);
  let keepShort = short, keepLong = short > budget ? short : Math.max(short, budget - short);
  if (keepShort + keepLong > budget) {
    keepShort = Math.floor(budget / 2);
    keepLong = keepShort + (budget % 2);
  }
  const [k1, k2] = swap ? [keepLong, keepShort] : [keepShort, keepLong];
  return [Math.min(n1, k1), Math.min(n2, k2)];
}

export function padBatch(encodings: Encoding[], padId: number, seqLen?: number): Batch {
  const batchSize = encodings.length;
  const len = seqLen ?? Math.max(1, ...encodings.map((e) => e.ids.length));
  const inputIds = new Int32Array(batchSize * len).fill(padId);
  const attentionMask = new Int32Array(batchSize * len);
  const tokenTypes = new Int32Array(batchSize * len);
  encodings.forEach((e, b) => {
    if (e.ids.length > len) throw new Error(`sequence of ${e.ids.length} tokens does not fit length ${len}`);
    inputIds.set(e.ids, b * len);
    attentionMask.fill(1, b * len, b * len + e.ids.length);
    if (e.typeIds) tokenTypes.set(e.typeIds, b * len);
  });
  return { inputIds, attentionMask, tokenTypes, batchSize, seqLen: len, truncated: encodings.map((e) => e.truncated) };
}

interface TokenizerConfig {
  normalizer: NormalizerOptions;
  modelMaxLength: number;
}

function readTokenizerConfig(path: string): TokenizerConfig {
  const defaults = { normalizer: { lowercase: true, stripAccents: true }, modelMaxLength: 512 };
  if (!existsSync(path)) return defaults;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: not a JSON object`);
  const lowercase = typeof raw.do_lower_case === 'boolean' ? raw.do_lower_case : true;
  // strip_accents null/absent follows lowercasing, as in BertNormalizer.
  const stripAccents = typeof raw.strip_accents === 'boolean' ? raw.strip_accents : lowercase;
  const mml = raw.model_max_length;
  // HF writes a huge sentinel (1e30) when no limit is known; keep BERT's 512 then.
  const modelMaxLength = typeof mml === 'number' && mml > 0 && mml < 1e6 ? mml : 512;
  return { normalizer: { lowercase, stripAccents }, modelMaxLength };
}
