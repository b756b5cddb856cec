import { argmaxRow, logSumExpRow } from '../maths/rows';
import { predictLogits } from '../model/inference';
import { SequenceClassifierModel } from '../model/model';
import { LabelledSet } from '../data/dataset';
import { padBatch } from '../tokenizer';
import { KerasAdam } from './adam';
import { AdamW } from './adamw';
import { Checkpoint, EpochRow } from './checkpoint';
import { fullBatches, LoopHooks, LoopResult, runLoop, stepMicroBatches } from './loop';
import { PolynomialDecay } from './schedule';
import { TrainSettings } from './presets';

export type TrainHooks = LoopHooks<{ epoch: number; step: number; stepsPerEpoch: number; loss: number; accuracy: number; tokensPerSecond: number }, EpochRow>;

export interface TrainJob {
  model: SequenceClassifierModel;
  train: LabelledSet;
  validation: LabelledSet;
  settings: TrainSettings & { microBatch: number };
  padId: number;
  checkpointPath: string;
  resume?: Checkpoint;
  hooks?: TrainHooks;
}

export type TrainResult = LoopResult<EpochRow>;

/** Base of the dropout streams of one micro-batch: a function of (seed, step, micro-batch) only. */
function dropoutSeed(seed: number, globalStep: number, micro: number): number {
  return ((seed & 0xffff) * 2 ** 20 + globalStep) * 32 + micro;
}

/** Mean cross-entropy and accuracy of eval-mode predictions. */
export function evaluateSet(model: SequenceClassifierModel, set: LabelledSet, padId: number): { loss: number; accuracy: number } {
  const C = model.config.id2label.length;
  const logits = predictLogits(model, set.encodings, padId, 64);
  let loss = 0, correct = 0;
  for (let r = 0; r < set.labels.length; r++) {
    loss += logSumExpRow(logits, r, C) - logits[r * C + set.labels[r]];
    if (argmaxRow(logits, r, C) === set.labels[r]) correct++;
  }
  return { loss: loss / set.labels.length, accuracy: correct / set.labels.length };
}

/**
 * Mini-batch training as on the card: each epoch a fresh permutation cut into full batches
 * (the remainder is dropped, so 16,962 posts / 80 = 212 steps), Keras Adam (or AdamW) with linear
 * decay to 0 over all steps, validation after every epoch, a checkpoint after every epoch (and on stop).
 */
export async function train(job: TrainJob): Promise<TrainResult> {
  const { model, settings: st } = job;
  const C = model.config.id2label.length;
  const B = st.batchSize;
  const schedule = new PolynomialDecay(st.lr, st.epochs * fullBatches(job.train.encodings.length, B, 'training examples'), 0, 1);
  const adam = st.optimizer === 'adamw'
    ? new AdamW(schedule, { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, weightDecay: st.weightDecay ?? 0.01, clipNorm: st.clipNorm })
    : new KerasAdam(schedule, { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, clipNorm: st.clipNorm });
  const labels = new Int32Array(B);
  return runLoop({
    model, optimizer: adam, examples: job.train.encodings.length, noun: 'training examples', batchSize: B, epochs: st.epochs, seed: st.seed,
    checkpointPath: job.checkpointPath, resume: job.resume, hooks: job.hooks,
    step: (idx, state) => {
      const p = state.partial;
      let stepLoss = 0;
      const parts = stepMicroBatches(idx, (i) => job.train.encodings[i].ids.length, st.microBatch);
      for (const [micro, part] of parts.entries()) {
        const batch = padBatch(part.map((i) => job.train.encodings[i]), job.padId);
        const logits = model.forward(batch.inputIds, batch.attentionMask, part.length, batch.seqLen,
          { train: true, seed: dropoutSeed(st.seed, state.globalStep, micro) });
        const lab = labels.subarray(0, part.length);
        part.forEach((i, r) => {
          lab[r] = job.train.labels[i];
          if (argmaxRow(logits, r, C) === lab[r]) p.correct++;
        });
        // Loss is the mean over the whole batch: each micro-batch carries its share.
        stepLoss += model.loss(lab, part.length / B) * (part.length / B);
        model.backward();
        p.tokens += part.length * batch.seqLen;
        p.realTokens += part.reduce((s, i) => s + job.train.encodings[i].ids.length, 0);
      }
      adam.update(model);
      p.lossSum += stepLoss;
      p.seen += B;
    },
    progress: (state, stepsPerEpoch) => {
      const p = state.partial;
      return { epoch: state.epoch, step: state.stepInEpoch, stepsPerEpoch, loss: p.lossSum / state.stepInEpoch, accuracy: p.correct / p.seen, tokensPerSecond: p.tokens / p.seconds };
    },
    epochRow: (state, stepsPerEpoch) => {
      const p = state.partial;
      const val = evaluateSet(model, job.validation, job.padId);
      return {
        epoch: state.epoch, trainLoss: p.lossSum / stepsPerEpoch, trainAccuracy: p.correct / p.seen,
        validationLoss: val.loss, validationAccuracy: val.accuracy, seconds: p.seconds, tokensPerSecond: p.tokens / p.seconds,
        tokens: p.tokens, paddingTokens: p.tokens - p.realTokens,
      };
    },
  });
}
