import { ModelConfig } from '../model/config';
import { EpochRow } from './checkpoint';
import { TrainSettings } from './presets';

export interface CardFacts {
  name: string;
  init: string;
  config: ModelConfig;
  settings: TrainSettings & { microBatch: number };
  stepsPerEpoch: number;
  dataSource: string;
  splitDescription: string;
  strip: string[];
  trainCount: number;
  validationCount: number;
  history: EpochRow[];
  command: string;
}

export function formatTable(rows: EpochRow[]): string {
  const lines = ['| Train Loss | Train Accuracy | Validation Loss | Validation Accuracy | Epoch |', '|:----------:|:--------------:|:---------------:|:-------------------:|:-----:|'];
  for (const r of rows) {
    lines.push(`| ${r.trainLoss.toFixed(4)} | ${r.trainAccuracy.toFixed(4)} | ${r.validationLoss.toFixed(4)} | ${r.validationAccuracy.toFixed(4)} | ${r.epoch} |`);
  }
  return lines.join('\n');
}

/** README.md of a trained model folder, written from the run's real figures. */
export function modelCard(f: CardFacts): string {
  const s = f.settings, c = f.config;
  const last = f.history[f.history.length - 1];
  const best = f.history.reduce((a, b) => (b.validationAccuracy > a.validationAccuracy ? b : a), last);
  const totalSeconds = f.history.reduce((a, r) => a + r.seconds, 0);
  return `---
library_name: bert-20news
pipeline_tag: text-classification
tags: [distilbert, 20newsgroups]
---

# ${f.name}

A DistilBERT sequence classifier for the 20 Newsgroups topics, trained with bert-20news
(TypeScript + a native CPU engine) from \`${f.init}\`.

## Results

Validation accuracy after the last epoch: **${last ? last.validationAccuracy.toFixed(4) : 'n/a'}**
(best ${best ? best.validationAccuracy.toFixed(4) : 'n/a'} after epoch ${best ? best.epoch : 'n/a'}).

${formatTable(f.history)}

Training time: ${(totalSeconds / 60).toFixed(1)} min of training steps (validation not included).

## Model

DistilBERT: ${c.nLayers} layers, dim ${c.dim}, ${c.nHeads} heads, FFN ${c.hiddenDim}, vocabulary ${c.vocabSize},
${c.maxPositionEmbeddings} positions, activation ${c.activation}, dropout ${c.dropout}, attention dropout ${c.attentionDropout},
classifier dropout ${c.seqClassifDropout}; head: [CLS] -> pre_classifier ${c.dim}x${c.dim} -> ReLU -> dropout -> classifier ${c.dim}x${c.id2label.length}.

## Training

- Optimizer: ${s.optimizer === 'adamw' ? `torch AdamW (weight decay ${s.weightDecay}, not on biases and LayerNorm weights; ` : 'Keras-2.12 Adam ('}beta_1 ${s.beta1}, beta_2 ${s.beta2}, epsilon ${s.epsilon}), learning rate
  PolynomialDecay ${s.lr} -> 0 over ${s.epochs * f.stepsPerEpoch} steps (${s.epochs} epochs x ${f.stepsPerEpoch} steps),
  float32${s.clipNorm ? `, global-norm clipping at ${s.clipNorm}` : ', no gradient clipping'}.
- Batch ${s.batchSize}${s.microBatch < s.batchSize ? ` (gradients accumulated over micro-batches of ${s.microBatch})` : ''}, max length ${s.maxLength} tokens, seed ${s.seed}.
- Loss: mean sparse categorical cross-entropy from logits.

## Data

- Source: ${f.dataSource}
- Split: ${f.splitDescription}
- ${f.trainCount} training and ${f.validationCount} validation posts; ${f.strip.length ? `removed: ${f.strip.join(', ')}` : 'raw posts (headers, signatures and quotes kept)'}.

## Labels

${c.id2label.map((l, i) => `${i}. ${l}`).join('\n')}

## Reproduce

\`\`\`
${f.command}
\`\`\`
`;
}
