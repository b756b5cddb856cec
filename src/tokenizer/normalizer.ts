/**
 * BERT uncased normalization, following HF tokenizers' BertNormalizer (which transformers 5
 * uses for DistilBertTokenizer): remove control chars, map whitespace to ' ', put spaces around
 * CJK ideographs, NFD + drop nonspacing marks, then lowercase character by character.
 * The order matters: lowercasing after accent stripping keeps e.g. the combining dot of 'İ'.
 */

const CONTROL = /\p{C}/u;
const NONSPACING_MARK = /\p{Mn}/u;
// After control characters are removed, JS's \s equals Rust's char::is_whitespace.
const WHITESPACE = /\s/u;

export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL.test(ch);
}

/** One character cleaned: controls removed, whitespace to ' ', CJK ideographs spaced out (the steps before accent stripping). */
export function cleanChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) {
    // ASCII fast path: only controls and whitespace need care.
    if (cp === 9 || cp === 10 || cp === 13) return ' ';
    return cp < 32 || cp === 127 ? '' : ch;
  }
  if (cp === 0xfffd || isControl(ch)) return '';
  if (WHITESPACE.test(ch)) return ' ';
  return isChineseChar(cp) ? ' ' + ch + ' ' : ch;
}

function cleanAndSpaceCjk(text: string): string {
  let out = '';
  for (const ch of text) out += cleanChar(ch);
  return out;
}

export function stripAccents(text: string): string {
  const nfd = text.normalize('NFD');
  if (nfd === text && isAscii(text)) return text;
  let out = '';
  for (const ch of nfd) if (!NONSPACING_MARK.test(ch)) out += ch;
  return out;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Lowercases each character on its own (no context rules such as final sigma), as tokenizers does. */
export function lowercaseChars(text: string): string {
  if (isAscii(text)) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

export interface NormalizerOptions {
  lowercase: boolean;
  stripAccents: boolean;
}

export function normalizeBert(text: string, opts: NormalizerOptions): string {
  let t = cleanAndSpaceCjk(text);
  if (opts.stripAccents) t = stripAccents(t);
  if (opts.lowercase) t = lowercaseChars(t);
  return t;
}
