import { cleanChar, lowercaseChars, stripAccents } from './normalizer';
import { isPunctuation } from './pretokenizer';

/**
 * Where the tokens of a text came from, as HF tokenizers' return_offsets_mapping gives it: the
 * normalizer's steps (normalizer.ts) taken one original character at a time, each normalized
 * character remembering the original one it came from, so that every token and every
 * pre-tokenized word carries the span of original characters it was read from, in UTF-16 code
 * units (JavaScript string indices: text.slice(start, end)). For an uncased model the span holds
 * the original characters ("Café"), not the normalized ones ("cafe").
 */
export interface TokenSpan {
  id: number;
  start: number;
  end: number;
  /** Index of the word (a pre-tokenized word, or a special token written in the text) it belongs to. */
  word: number;
}

export interface WordSpan {
  start: number;
  end: number;
}

export interface Spans {
  tokens: TokenSpan[];
  words: WordSpan[];
}

const WHITESPACE = /\s/u;

/** One original character as the normalizer writes it (possibly nothing, possibly several characters). */
function normalizeChar(ch: string, lowercase: boolean, accents: boolean): string {
  const clean = cleanChar(ch);
  const stripped = accents ? stripAccents(clean) : clean;
  return lowercase ? lowercaseChars(stripped) : stripped;
}

/** The normalized characters of text[from, to) with each one's original span. */
function normalizeWithSpans(text: string, from: number, to: number, lowercase: boolean, accents: boolean): { chars: string[]; spans: WordSpan[] } {
  const chars: string[] = [];
  const spans: WordSpan[] = [];
  for (let i = from; i < to; ) {
    const cp = text.codePointAt(i)!;
    const end = i + (cp > 0xffff ? 2 : 1);
    for (const c of normalizeChar(text.slice(i, end), lowercase, accents)) {
      chars.push(c);
      spans.push({ start: i, end });
    }
    i = end;
  }
  return { chars, spans };
}

/** BertPreTokenizer over normalized characters: [first, last] character indices of each word. */
function preTokenizeChars(chars: string[]): [number, number][] {
  const words: [number, number][] = [];
  let start = -1;
  chars.forEach((ch, i) => {
    if (WHITESPACE.test(ch)) {
      if (start >= 0) words.push([start, i - 1]);
      start = -1;
    } else if (isPunctuation(ch)) {
      if (start >= 0) words.push([start, i - 1]);
      words.push([i, i]);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  });
  if (start >= 0) words.push([start, chars.length - 1]);
  return words;
}

export interface SpanTokenizer {
  specialPattern: RegExp;
  lowercase: boolean;
  stripAccents: boolean;
  specialId(token: string): number;
  encodeWord(word: string): number[];
  /** A piece's characters in the word (its vocabulary string without the continuation prefix); [UNK]: undefined. */
  pieceLength(id: number): number | undefined;
}

/** Every token of the text (no special tokens added) with its span and word. */
export function tokenizeWithSpans(text: string, t: SpanTokenizer): Spans {
  const tokens: TokenSpan[] = [];
  const words: WordSpan[] = [];
  let at = 0;
  text.split(t.specialPattern).forEach((part, k) => {
    const from = at;
    at += part.length;
    if (k % 2 === 1) {
      tokens.push({ id: t.specialId(part), start: from, end: at, word: words.length });
      words.push({ start: from, end: at });
      return;
    }
    const { chars, spans } = normalizeWithSpans(text, from, at, t.lowercase, t.stripAccents);
    for (const [first, last] of preTokenizeChars(chars)) {
      const w = words.length;
      words.push({ start: spans[first].start, end: spans[last].end });
      const ids = t.encodeWord(chars.slice(first, last + 1).join(''));
      let c = first;
      for (const id of ids) {
        // [UNK] stands for the whole word; every other piece is the next run of the word's characters.
        const n = ids.length === 1 ? last - first + 1 : t.pieceLength(id)!;
        tokens.push({ id, start: spans[c].start, end: spans[c + n - 1].end, word: w });
        c += n;
      }
    }
  });
  return { tokens, words };
}
