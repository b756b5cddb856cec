import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FORMATS, migrateCheckpointState, migrateHybridSpec, migrateRunRecord } from '../src/io/migrations';

describe('older file forms brought to the current one (io/migrations.ts)', () => {
  it('run.json 1: a pretraining run read one window per text; a hybrid run had the word part alone', () => {
    const pre = migrateRunRecord({ settings: { masking: { probability: 0.15 }, maxLength: 128 }, strip: [] }, 'run.json');
    assert.deepEqual(pre.settings, { masking: { probability: 0.15 }, maxLength: 128, windows: 1 });
    // Before micro-batches, a step was one batch.
    assert.deepEqual(migrateRunRecord({ settings: { batchSize: 80 } }, 'run.json').settings, { batchSize: 80, microBatch: 80 });
    const hybrid = migrateRunRecord({ settings: { lr: 1 }, hybrid: { fraction: 0.05, seed: 42 } }, 'run.json');
    assert.deepEqual(hybrid.hybrid, { fraction: 0.05, seed: 42, parts: ['word'] });
    assert.equal(hybrid.format, FORMATS.run);
    // A fine-tuning run has no windows; a current record is left as it is.
    assert.equal((hybrid.settings as Record<string, unknown>).windows, undefined);
    const now = { format: 2, settings: { masking: {}, windows: 4 }, hybrid: { parts: ['char_wb'] } };
    assert.deepEqual(migrateRunRecord(now, 'run.json'), now);
  });

  it('checkpoint 1: a state without realTokens counts them from the resume on', () => {
    const s = migrateCheckpointState({ epoch: 1, partial: { lossSum: 2, tokens: 100 } }, 'c.safetensors');
    assert.deepEqual(s.partial, { lossSum: 2, tokens: 100, realTokens: 0 });
    assert.deepEqual(migrateCheckpointState({ format: 2, partial: { tokens: 100, realTokens: 90 } }, 'c').partial, { tokens: 100, realTokens: 90 });
  });

  it('hybrid.json 1 and 2 become parts of analyzers side by side', () => {
    const one = migrateHybridSpec({ lambda: 30, minDf: 1, selection: { slice: 10, seed: 1, accuracy: { transformer: 0.8, tfidf: 0.9, hybrid: 0.95 } } }, 'h');
    assert.deepEqual(one.parts, [{ analyzers: ['word'], minDf: [1], C: 1, dir: 'tfidf', lambda: 30 }]);
    assert.deepEqual(one.selection, { slice: 10, seed: 1, accuracy: { transformer: 0.8, parts: [0.9], hybrid: 0.95 } });
    const two = migrateHybridSpec({ parts: [{ analyzer: 'char_wb', dir: 'tfidf-char', minDf: 2, lambda: 5 }] }, 'h');
    assert.deepEqual(two.parts, [{ analyzers: ['char_wb'], minDf: [2], C: 1, dir: 'tfidf-char', lambda: 5 }]);
  });

  it('a form newer than this version, or not an object, is refused naming the file', () => {
    assert.throws(() => migrateRunRecord({ format: 3 }, 'runs/x/run.json'), /runs\/x\/run\.json: format 3 is not one this version reads/);
    assert.throws(() => migrateHybridSpec(null, 'm/hybrid.json'), /m\/hybrid\.json: not a JSON object/);
    assert.throws(() => migrateCheckpointState([], 'c.safetensors'), /c\.safetensors: not a JSON object/);
  });
});
