/**
 * BertPreTokenizer: split on whitespace (dropped) and on punctuation (kept as its own word).
 * Punctuation is ASCII punctuation or any Unicode P* category, as in BERT.
 */

const UNICODE_PUNCT = /\p{P}/u;
const WHITESPACE = /\s/u;

function isAsciiPunct(cp: number): boolean {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) return isAsciiPunct(cp);
  return UNICODE_PUNCT.test(ch);
}

export function preTokenize(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const space = cp < 0x80 ? cp === 32 || (cp >= 9 && cp <= 13) : WHITESPACE.test(ch);
    if (space) {
      if (cur) words.push(cur);
      cur = '';
    } else if (isPunctuation(ch)) {
      if (cur) words.push(cur);
      words.push(ch);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) words.push(cur);
  return words;
}
