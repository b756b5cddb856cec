import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeModelDir, NEWSGROUPS } from './fixtures';

describe('library entry point', () => {
  it('require("bert-20news") loads a model folder and classifies', () => {
    // The package's "main", resolved as a user's require would.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(join(__dirname, '..', '..')) as typeof import('../src/index');
    const classifier = lib.Classifier.load(makeModelDir(32));
    const [r] = classifier.classify(['the engine of the orbit'], 3);
    assert.equal(r.predictions.length, 3);
    assert.ok(r.predictions.every((p) => NEWSGROUPS.includes(p.label)));
  });
});
