import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { ProblemType } from '../model/config';

/**
 * One labelled text of a user's data, with where it came from (file:line, or the file): its label
 * (single-label), its labels (multi-label, possibly none) or its value (regression), and the
 * second text of a pair where the data has one.
 */
export interface LabelledText {
  text: string;
  textPair?: string;
  label: string;
  labels?: string[];
  value?: number;
  where: string;
}

export interface TextFileOptions {
  /** Field (CSV column, JSON key) of the text; default `text`. */
  textField: string;
  /** Field of a text pair's second text; absent: single texts. */
  textPairField?: string;
  /** Field of the label; default `label`. */
  labelField: string;
  /** Encoding of the files: utf-8 (checked) or latin1 (every byte a character). */
  encoding: 'utf-8' | 'latin1';
  /** What the label field holds: one label, a set of labels, or a number. */
  problemType: ProblemType;
  /** Multi-label CSV: what joins a row's labels in its one column; default `;`. */
  labelSeparator: string;
}

export const DEFAULT_TEXT_OPTIONS: TextFileOptions = { textField: 'text', labelField: 'label', encoding: 'utf-8', problemType: 'single_label_classification', labelSeparator: ';' };

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

/**
 * Checks one record's fields: a non-empty text (and second text, for pairs) and its label as the
 * problem type reads it: a string or number; a JSON array (JSONL) or separator-joined column (CSV)
 * of them, possibly empty; a finite number (a JSON number, or a CSV cell that reads as one).
 */
function record(where: string, fields: Record<string, unknown>, o: TextFileOptions, csv: boolean): LabelledText {
  const names = () => Object.keys(fields).join(', ') || 'none';
  if (!(o.textField in fields)) throw new Error(`${where}: no "${o.textField}" field (fields: ${names()}; choose with --text-field)`);
  if (o.textPairField !== undefined && !(o.textPairField in fields)) throw new Error(`${where}: no "${o.textPairField}" field (fields: ${names()}; choose with --text-pair-field)`);
  if (!(o.labelField in fields)) throw new Error(`${where}: no "${o.labelField}" field (fields: ${names()}; choose with --label-field)`);
  const text = fields[o.textField];
  const label = fields[o.labelField];
  if (typeof text !== 'string') throw new Error(`${where}: "${o.textField}" is not a string`);
  if (text.trim() === '') throw new Error(`${where}: empty text`);
  const out: LabelledText = { text, label: '', where };
  if (o.textPairField !== undefined) {
    const pair = fields[o.textPairField];
    if (typeof pair !== 'string' || pair.trim() === '') throw new Error(`${where}: "${o.textPairField}" must be a non-empty string (the pair's second text)`);
    out.textPair = pair;
  }
  const name = (v: unknown) => (typeof v === 'string' || typeof v === 'number') && String(v).trim() !== '';
  if (o.problemType === 'multi_label_classification') {
    const list = csv ? String(label).split(o.labelSeparator).map((l) => l.trim()).filter((l) => l !== '') : label;
    if (!Array.isArray(list) || !list.every(name)) throw new Error(`${where}: "${o.labelField}" must be ${csv ? `labels joined by ${JSON.stringify(o.labelSeparator)} (--label-separator)` : 'a JSON array of label names'} (multi-label; [] for none)`);
    out.labels = [...new Set(list.map((l) => String(l).trim()))];
  } else if (o.problemType === 'regression') {
    const value = typeof label === 'string' && label.trim() !== '' ? Number(label) : label;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${where}: "${o.labelField}" must be a finite number (regression), got ${JSON.stringify(label)}`);
    out.value = value;
  } else {
    if (!name(label)) throw new Error(`${where}: "${o.labelField}" must be a non-empty string or a number`);
    out.label = String(label).trim();
  }
  return out;
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
  return rows.map((r) => record(`${path}:${firstLine(r)}`, r.record, o, true));
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
    out.push(record(where, v as Record<string, unknown>, o, false));
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
  if (kind === 'folder' && (o.problemType !== 'single_label_classification' || o.textPairField !== undefined)) {
    throw new Error(`${path}: a folder of label folders holds single texts with one label each: give multi-label, regression or text-pair data as .csv or .jsonl`);
  }
  const texts = kind === 'csv' ? readCsv(path, o) : kind === 'jsonl' ? readJsonl(path, o) : readFolder(path, o);
  if (texts.length === 0) throw new Error(kind === 'folder' ? `${path}: no texts (expected one subfolder per label, one text per file)` : `${path}: no records`);
  const long = texts.filter((t) => t.text.length > MAX_TEXT_CHARS);
  for (const t of long) t.text = t.text.slice(0, MAX_TEXT_CHARS);
  if (long.length) process.stderr.write(`note: ${long.length} text(s) of ${path} (the first: ${long[0].where}) are longer than ${MAX_TEXT_CHARS.toLocaleString('en')} characters: their first ${MAX_TEXT_CHARS.toLocaleString('en')} are read\n`);
  return texts;
}
