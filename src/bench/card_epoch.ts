/**
 * The bench's `train_card_epoch` estimate: the card recipe on the real 20 Newsgroups card split
 * (distilbert-base shape from random weights, 512 tokens, batch 80 accumulated over micro-batches
 * of 8 ordered by length), run through the trainer itself for a few optimizer steps of epoch 0.
 * An epoch is 212 such steps: the estimate is their median step time x 212.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePosts } from '../data/dataset';
import { loadData } from '../data/source';
import { makeSplit } from '../data/split';
import { EncoderClassifier } from '../model/encoder_classifier';
import { DeviceChoice } from '../model/model';
import { BertTokenizer } from '../tokenizer';
import { PRESETS } from '../train/presets';
import { train } from '../train/trainer';
import { baseModel, CaseTiming } from './cases';

/** ../shared beside the repository, or BERT20NEWS_SHARED. */
export function sharedDir(): string {
  return process.env.BERT20NEWS_SHARED ?? join(__dirname, '..', '..', '..', '..', 'shared');
}

const FILES = { data: ['data', '20news-bydate.tar.gz'], vocab: ['vocab', 'bert-base-uncased-vocab.txt'], list: ['golden', 'card_split_validation_paths.txt'] };

/** Why the case cannot run here, or undefined when the data, vocabulary and validation list are present. */
export function cardEpochMissing(): string | undefined {
  const missing = Object.values(FILES).map((f) => join(sharedDir(), ...f)).find((p) => !existsSync(p));
  return missing ? `needs ${missing} (set BERT20NEWS_SHARED)` : undefined;
}

/** Seconds of `steps` optimizer steps (after one warm-up step) and the steps in an epoch. */
export async function cardEpochSteps(steps: number, device: DeviceChoice = {}): Promise<CaseTiming & { stepsPerEpoch: number }> {
  const path = (k: keyof typeof FILES) => join(sharedDir(), ...FILES[k]);
  const { data } = await loadData(path('data'));
  const split = makeSplit(data, 'card', { validationList: path('list') });
  const settings = { ...PRESETS.card, microBatch: 8 };
  const tokenizer = BertTokenizer.load(path('vocab'));
  const trainSet = encodePosts(split.train, data.labels, tokenizer, settings.maxLength);
  const { config, params } = baseModel();
  const dir = mkdtempSync(join(tmpdir(), 'bert-20news-card-'));
  const seconds: number[] = [];
  let last = process.hrtime.bigint();
  let done = 0;
  try {
    await train({
      model: new EncoderClassifier(config, params, device), train: trainSet, validation: { problemType: 'single_label_classification', encodings: [], labels: new Int32Array(0), targets: new Float32Array(0) },
      settings, padId: tokenizer.padId, checkpointPath: join(dir, 'checkpoint.safetensors'),
      hooks: {
        onStep: () => {
          const now = process.hrtime.bigint();
          if (done++ > 0) seconds.push(Number(now - last) / 1e9);  // the first step warms up
          last = now;
        },
        shouldStop: () => done > steps,
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, stepsPerEpoch: Math.floor(trainSet.labels.length / settings.batchSize) };
}
