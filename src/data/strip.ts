/**
 * scikit-learn's fetch_20newsgroups(remove=...) cleaners, with the same rules:
 * headers = everything before the first blank line; quotes = lines that quote or introduce a
 * quote; footers = the block after the last line made only of dashes (a signature).
 */

export type StripPart = 'headers' | 'footers' | 'quotes';

const QUOTE_RE = /(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)/;

export function stripHeader(text: string): string {
  const i = text.indexOf('\n\n');
  return i < 0 ? '' : text.slice(i + 2);
}

export function stripQuotes(text: string): string {
  return text.split('\n').filter((line) => !QUOTE_RE.test(line)).join('\n');
}

export function stripFooter(text: string): string {
  const lines = pyStrip(text).split('\n');
  let n = lines.length - 1;
  for (; n >= 0; n--) if (lines[n].trim().replace(/^-+|-+$/g, '') === '') break;
  return n > 0 ? lines.slice(0, n).join('\n') : text;
}

/** Python's str.strip(): ASCII whitespace plus the Unicode spaces latin-1 text can hold. */
function pyStrip(s: string): string {
  return s.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/g, '');
}

const STRIP_PARTS: readonly string[] = ['headers', 'footers', 'quotes'];

/** The --strip flag's value as rules. */
export function parseStrip(spec: string | undefined): StripPart[] {
  if (!spec) return [];
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    if (!STRIP_PARTS.includes(p)) throw new Error(`--strip takes headers, footers and quotes, not ${JSON.stringify(p)}`);
  }
  return parts as StripPart[];
}

/** Rules as a file records them (a run record, a model folder): an array of rule names, else an error naming `what`. */
export function checkStripParts(value: unknown, what: string): StripPart[] {
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string' && STRIP_PARTS.includes(p))) {
    throw new Error(`${what} must list strip rules (headers, footers, quotes), got ${JSON.stringify(value)}`);
  }
  return value as StripPart[];
}

/** Applies the parts in scikit-learn's order: headers, footers, quotes. */
export function strip(text: string, parts: StripPart[]): string {
  let t = text;
  if (parts.includes('headers')) t = stripHeader(t);
  if (parts.includes('footers')) t = stripFooter(t);
  if (parts.includes('quotes')) t = stripQuotes(t);
  return t;
}
