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

/** A figure of the table: 4 decimals, or "-" where there is none (regression's accuracy). */
export const figure = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(4));

export function formatTable(rows: EpochRow[]): string {
  const lines = ['| Train Loss | Train Accuracy | Validation Loss | Validation Accuracy | Epoch |', '|:----------:|:--------------:|:---------------:|:-------------------:|:-----:|'];
  for (const r of rows) {
    lines.push(`| ${figure(r.trainLoss)} | ${figure(r.trainAccuracy)} | ${figure(r.validationLoss)} | ${figure(r.validationAccuracy)} | ${r.epoch} |`);
  }
  return lines.join('\n');
}

/** What the head computes and what the loss is, by architecture and problem type. */
function headAndLoss(c: ModelConfig): { head: string; loss: string; task: string } {
  const dense = c.modelType === 'bert' ? `pooler ${c.dim}x${c.dim} -> tanh` : `pre_classifier ${c.dim}x${c.dim} -> ReLU`;
  const head = `[CLS] -> ${dense} -> dropout -> classifier ${c.dim}x${c.id2label.length}`;
  if (c.problemType === 'multi_label_classification') return { head: `${head} -> sigmoid per label`, loss: 'mean binary cross-entropy with logits over texts x labels', task: 'multi-label classifier' };
  if (c.problemType === 'regression') return { head, loss: 'mean squared error of the one output', task: 'regression model' };
  return { head, loss: 'mean sparse categorical cross-entropy from logits', task: 'sequence classifier' };
}

/** README.md of a trained model folder, written from the run's real figures. */
export function modelCard(f: CardFacts): string {
  const s = f.settings, c = f.config;
  const last = f.history[f.history.length - 1];
  const regression = c.problemType === 'regression';
  const best = f.history.reduce((a, b) => (regression ? b.validationLoss < a.validationLoss : b.validationAccuracy > a.validationAccuracy) ? b : a, last);
  const { head, loss, task } = headAndLoss(c);
  const arch = c.modelType === 'bert' ? 'BERT' : 'DistilBERT';
  const metric = regression ? 'loss (mean squared error)' : c.problemType === 'multi_label_classification' ? 'subset accuracy (every label right)' : 'accuracy';
  const value = (r: EpochRow) => figure(regression ? r.validationLoss : r.validationAccuracy);
  const totalSeconds = f.history.reduce((a, r) => a + r.seconds, 0);
  return `---
library_name: bert-20news
pipeline_tag: text-classification
tags: [${c.modelType}]
---

# ${f.name}

A ${arch} ${task} trained with bert-20news (TypeScript + a native engine) from \`${f.init}\`.

## Results

Validation ${metric} after the last epoch: **${last ? value(last) : 'n/a'}**
(best ${best ? value(best) : 'n/a'} after epoch ${best ? best.epoch : 'n/a'}).

${formatTable(f.history)}

Training time: ${(totalSeconds / 60).toFixed(1)} min of training steps (validation not included).

## Model

${arch}: ${c.nLayers} layers, dim ${c.dim}, ${c.nHeads} heads, FFN ${c.hiddenDim}, vocabulary ${c.vocabSize},
${c.maxPositionEmbeddings} positions${c.modelType === 'bert' ? `, ${c.typeVocabSize} token types` : ''}, activation ${c.activation}, dropout ${c.dropout}, attention dropout ${c.attentionDropout},
classifier dropout ${c.seqClassifDropout}; head: ${head}.

## Training

- Optimizer: ${s.optimizer === 'adamw' ? `torch AdamW (weight decay ${s.weightDecay}, not on biases and LayerNorm weights; ` : 'Keras-2.12 Adam ('}beta_1 ${s.beta1}, beta_2 ${s.beta2}, epsilon ${s.epsilon}), learning rate
  ${s.optimizer === 'adamw' && (s.warmupSteps || s.warmupRatio) ? `linear warmup (${s.warmupSteps !== undefined ? `${s.warmupSteps} steps` : `ratio ${s.warmupRatio}`}), then ` : ''}linear decay ${s.lr} -> 0 over ${s.epochs * f.stepsPerEpoch} steps (${s.epochs} epochs x ${f.stepsPerEpoch} steps),
  float32${s.clipNorm ? `, global-norm clipping at ${s.clipNorm}` : ', no gradient clipping'}.
- Batch ${s.batchSize}${s.microBatch < s.batchSize ? ` (gradients accumulated over micro-batches of ${s.microBatch})` : ''}, max length ${s.maxLength} tokens, seed ${s.seed}.
- Loss: ${loss}.

## Data

- Source: ${f.dataSource}
- Split: ${f.splitDescription}
- ${f.trainCount} training and ${f.validationCount} validation texts; ${f.strip.length ? `removed: ${f.strip.join(', ')}` : 'raw posts (headers, signatures and quotes kept)'}.

## Labels

${c.id2label.map((l, i) => `${i}. ${l}`).join('\n')}

## Reproduce

\`\`\`
${f.command}
\`\`\`
`;
}
