import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse } from 'csv-parse/sync';

/** One labelled text of a user's data, with where it came from (file:line, or the file). */
export interface LabelledText {
  text: string;
  label: string;
  where: string;
}

export interface TextFileOptions {
  /** Field (CSV column, JSON key) of the text; default `text`. */
  textField: string;
  /** Field of the label; default `label`. */
  labelField: string;
  /** Encoding of the files: utf-8 (checked) or latin1 (every byte a character). */
  encoding: 'utf-8' | 'latin1';
}

export const DEFAULT_TEXT_OPTIONS: TextFileOptions = { textField: 'text', labelField: 'label', encoding: 'utf-8' };

/** The kinds of data file we read besides the 20 Newsgroups archive. */
export function labelledFileKind(path: string): 'csv' | 'jsonl' | 'folder' | undefined {
  if (statSync(path).isDirectory()) return 'folder';
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return undefined;
}

/** A file's text; bad UTF-8 is an error that names the line of the first bad byte. */
function decode(path: string, bytes: Buffer, encoding: TextFileOptions['encoding']): string {
  if (encoding === 'latin1') return bytes.toString('latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const loose = new TextDecoder('utf-8').decode(bytes);
    const line = loose.slice(0, loose.indexOf('\uFFFD')).split('\n').length;
    throw new Error(`${path}:${line}: not valid UTF-8 (give --encoding latin1 for 8-bit text)`);
  }
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Checks one record's fields: a non-empty text and a label (a string or a number). */
function record(where: string, fields: Record<string, unknown>, o: TextFileOptions): LabelledText {
  const names = () => Object.keys(fields).join(', ') || 'none';
  if (!(o.textField in fields)) throw new Error(`${where}: no "${o.textField}" field (fields: ${names()}; choose with --text-field)`);
  if (!(o.labelField in fields)) throw new Error(`${where}: no "${o.labelField}" field (fields: ${names()}; choose with --label-field)`);
  const text = fields[o.textField];
  const label = fields[o.labelField];
  if (typeof text !== 'string') throw new Error(`${where}: "${o.textField}" is not a string`);
  if (text.trim() === '') throw new Error(`${where}: empty text`);
  if ((typeof label !== 'string' && typeof label !== 'number') || String(label).trim() === '') {
    throw new Error(`${where}: "${o.labelField}" must be a non-empty string or a number`);
  }
  return { text, label: String(label).trim(), where };
}

function readCsv(path: string, o: TextFileOptions): LabelledText[] {
  let rows: { record: Record<string, string>; info: { lines: number }; raw: string }[];
  try {
    // A header that names a column twice would read the last one silently: refused.
    const columns = (header: string[]) => {
      const twice = header.find((h, i) => header.indexOf(h) !== i);
      if (twice !== undefined) throw new Error(`${path}:1: the header names the column ${JSON.stringify(twice)} twice`);
      return header;
    };
    rows = parse(decode(path, readBytes(path), o.encoding), { columns, bom: true, info: true, raw: true, skip_empty_lines: true });
  } catch (e) {
    if ((e as Error).message.startsWith(path)) throw e;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  // info.lines is the record's last line; a quoted field may span several: name the first.
  const firstLine = (r: (typeof rows)[number]) => {
    const text = r.raw.replace(/^[\r\n]+/, '');
    return r.info.lines - (text.split('\n').length - 1) + (text.endsWith('\n') ? 1 : 0);
  };
  return rows.map((r) => record(`${path}:${firstLine(r)}`, r.record, o));
}

function readJsonl(path: string, o: TextFileOptions): LabelledText[] {
  const out: LabelledText[] = [];
  decode(path, readBytes(path), o.encoding).split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${path}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not JSON: ${(e as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: not a JSON object`);
    out.push(record(where, v as Record<string, unknown>, o));
  });
  return out;
}

/** scikit-learn's load_files layout: one subfolder per label, one text per file. */
function readFolder(path: string, o: TextFileOptions): LabelledText[] {
  const out: LabelledText[] = [];
  const labels = readdirSync(path).filter((d) => !d.startsWith('.') && statSync(join(path, d)).isDirectory()).sort();
  for (const label of labels) {
    for (const file of readdirSync(join(path, label)).filter((f) => !f.startsWith('.')).sort()) {
      const p = join(path, label, file);
      if (!statSync(p).isFile()) continue;
      const text = decode(p, readBytes(p), o.encoding);
      if (text.trim() === '') throw new Error(`${p}: empty text`);
      out.push({ text, label, where: p });
    }
  }
  return out;
}

/**
 * The characters of a text that are read at most (1 MB of ASCII): a longer text is cut, so that
 * no single text costs more memory than that in any part (the tokenizer, the TF-IDF parts).
 */
export const MAX_TEXT_CHARS = 1_000_000;

/**
 * Every labelled text of a CSV file, a JSON Lines file, or a folder with one subfolder per label;
 * texts over MAX_TEXT_CHARS cut to it, and said once on stderr.
 */
export function readLabelledTexts(path: string, o: TextFileOptions = DEFAULT_TEXT_OPTIONS): LabelledText[] {
  const kind = labelledFileKind(path);
  if (!kind) throw new Error(`${path}: not a data file we read (.csv, .jsonl / .ndjson, a folder of label folders, or the 20news-bydate archive)`);
  const texts = kind === 'csv' ? readCsv(path, o) : kind === 'jsonl' ? readJsonl(path, o) : readFolder(path, o);
  if (texts.length === 0) throw new Error(kind === 'folder' ? `${path}: no texts (expected one subfolder per label, one text per file)` : `${path}: no records`);
  const long = texts.filter((t) => t.text.length > MAX_TEXT_CHARS);
  for (const t of long) t.text = t.text.slice(0, MAX_TEXT_CHARS);
  if (long.length) process.stderr.write(`note: ${long.length} text(s) of ${path} (the first: ${long[0].where}) are longer than ${MAX_TEXT_CHARS.toLocaleString('en')} characters: their first ${MAX_TEXT_CHARS.toLocaleString('en')} are read\n`);
  return texts;
}
