/**
 * Older forms of the files a run or a model folder keeps, brought to the current form in one place,
 * keyed by the `format` number each file now records (absent: written before it was recorded).
 * Readers call migrate() first and validate the current form alone.
 *
 * run.json      1: no `format`; a pretraining run without settings.windows read one window per
 *                  text, a hybrid run without hybrid.parts had the word part alone, a run without
 *                  settings.microBatch took each step as one micro-batch.
 *               2: both recorded; `format` written.
 * checkpoint    1: no `format` in the state; a state without partial.realTokens (padding not counted
 *                  yet) counts its real tokens from the resume on.
 *               2: realTokens recorded; `format` written.
 * hybrid.json   1: the word part alone ({ lambda, minDf, selection.accuracy.tfidf }).
 *               2: parts of one analyzer each ({ analyzer, minDf: number }, C 1).
 *               3: parts of one or more analyzers side by side ({ analyzers, minDf: number[], C }); `format` written.
 */
export const FORMATS = { run: 2, checkpoint: 2, hybrid: 3 } as const;

type Json = Record<string, unknown>;

function object(raw: unknown, path: string): Json {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: not a JSON object`);
  return raw as Json;
}

function version(o: Json, path: string, current: number): number {
  const v = o.format ?? 1;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > current) {
    throw new Error(`${path}: format ${JSON.stringify(o.format)} is not one this version reads (1 to ${current}); a newer bert-20news wrote it`);
  }
  return v as number;
}

/** run.json in its current form (format 2). */
export function migrateRunRecord(raw: unknown, path: string): Json {
  const o = { ...object(raw, path) };
  if (version(o, path, FORMATS.run) < 2) {
    const settings = o.settings as Json | undefined;
    if (settings && typeof settings === 'object' && settings.masking !== undefined && settings.windows === undefined) o.settings = { ...settings, windows: 1 };
    const s = o.settings as Json | undefined;
    if (s && typeof s === 'object' && s.microBatch === undefined && s.batchSize !== undefined) o.settings = { ...s, microBatch: s.batchSize };
    const hybrid = o.hybrid as Json | undefined;
    if (hybrid && typeof hybrid === 'object' && hybrid.parts === undefined) o.hybrid = { ...hybrid, parts: ['word'] };
  }
  o.format = FORMATS.run;
  return o;
}

/** A checkpoint's training state (its safetensors metadata) in its current form (format 2). */
export function migrateCheckpointState(raw: unknown, path: string): Json {
  const o = { ...object(raw, path) };
  if (version(o, path, FORMATS.checkpoint) < 2) {
    const partial = o.partial as Json | undefined;
    if (partial && typeof partial === 'object' && partial.realTokens === undefined) o.partial = { ...partial, realTokens: 0 };
  }
  o.format = FORMATS.checkpoint;
  return o;
}

/** hybrid.json in its current form (format 3). */
export function migrateHybridSpec(raw: unknown, path: string): Json {
  const o = { ...object(raw, path) };
  let v = o.format === undefined ? (typeof o.lambda === 'number' && o.parts === undefined ? 1 : Array.isArray(o.parts) && o.parts.some((p) => (p as Json)?.analyzers === undefined) ? 2 : 3) : version(o, path, FORMATS.hybrid);
  if (v === 1) {
    const old = o as { lambda: number; minDf?: number; selection?: { slice: number; seed: number; accuracy?: { transformer: number; tfidf: number; hybrid: number } } };
    const a = old.selection?.accuracy;
    o.parts = [{ analyzer: 'word', dir: 'tfidf', minDf: old.minDf ?? 1, lambda: old.lambda }];
    if (old.selection && a) o.selection = { ...old.selection, accuracy: { transformer: a.transformer, parts: [a.tfidf], hybrid: a.hybrid } };
    delete o.lambda;
    delete o.minDf;
    v = 2;
  }
  if (v === 2 && Array.isArray(o.parts)) {
    o.parts = o.parts.map((p: Json) => {
      if (p?.analyzers !== undefined) return p;
      const { analyzer, minDf, ...rest } = p ?? {};
      return { analyzers: [analyzer], minDf: [minDf ?? 1], C: 1, ...rest };
    });
  }
  o.format = FORMATS.hybrid;
  return o;
}
