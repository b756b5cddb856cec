import { argmaxRow, logSumExpRow } from '../maths/rows';
import { predictLogits } from '../model/inference';
import { SequenceClassifierModel } from '../model/model';
import { LabelledSet } from '../data/dataset';
import { padBatch } from '../tokenizer';
import { KerasAdam } from './adam';
import { AdamW } from './adamw';
import { Checkpoint, EpochRow } from './checkpoint';
import { fullBatches, LoopHooks, LoopResult, runLoop, stepMicroBatches } from './loop';
import { LinearWarmupDecay, PolynomialDecay } from './schedule';
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

/**
 * The loss of rows [from, from + n) of a set given their logits, as the engine computes it (mean
 * cross-entropy; mean BCE with logits over rows x labels; mean squared error), and how many of them
 * are right: the top class is the label; every label's sigmoid is on the right side of 0.5 (subset
 * accuracy); regression counts none (its accuracy is NaN).
 */
export function scoreRows(logits: ArrayLike<number>, set: LabelledSet, from: number, n: number, C: number): { lossSum: number; correct: number } {
  let lossSum = 0, correct = 0;
  for (let r = 0; r < n; r++) {
    const i = from + r;
    if (set.problemType === 'single_label_classification') {
      lossSum += logSumExpRow(logits, r, C) - logits[r * C + set.labels[i]];
      if (argmaxRow(logits, r, C) === set.labels[i]) correct++;
    } else if (set.problemType === 'regression') {
      lossSum += (logits[r] - set.targets[i]) ** 2;
    } else {
      let right = true, row = 0;
      for (let c = 0; c < C; c++) {
        const z = logits[r * C + c], y = set.targets[i * C + c];
        row += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        if ((z > 0 ? 1 : 0) !== y) right = false;
      }
      lossSum += row / C;
      if (right) correct++;
    }
  }
  return { lossSum, correct };
}

/** Mean loss and accuracy of eval-mode predictions (subset accuracy for multi-label; NaN for regression). */
export function evaluateSet(model: SequenceClassifierModel, set: LabelledSet, padId: number): { loss: number; accuracy: number } {
  const C = model.config.id2label.length;
  const n = set.encodings.length;
  const { lossSum, correct } = scoreRows(predictLogits(model, set.encodings, padId, 64), set, 0, n, C);
  return { loss: lossSum / n, accuracy: set.problemType === 'regression' ? NaN : correct / n };
}

/** HF Trainer's warmup: warmup_steps when given, else ceil(warmup_ratio x total steps). */
function warmupSteps(st: TrainSettings, totalSteps: number): number {
  const steps = st.warmupSteps ?? Math.ceil((st.warmupRatio ?? 0) * totalSteps);
  if (steps > totalSteps) throw new Error(`--warmup-steps ${steps} is more than the run's ${totalSteps} steps`);
  return steps;
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
  if (job.train.problemType !== model.config.problemType) throw new Error(`the data is ${job.train.problemType}, the model ${model.config.problemType}`);
  const totalSteps = st.epochs * fullBatches(job.train.encodings.length, B, 'training examples');
  // AdamW as HF Trainer runs it: linear warmup (default none), then linear decay to 0.
  const adam = st.optimizer === 'adamw'
    ? new AdamW(new LinearWarmupDecay(st.lr, warmupSteps(st, totalSteps), totalSteps), { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, weightDecay: st.weightDecay ?? 0, clipNorm: st.clipNorm })
    : new KerasAdam(new PolynomialDecay(st.lr, totalSteps, 0, 1), { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, clipNorm: st.clipNorm });
  const single = job.train.problemType === 'single_label_classification';
  const labels = new Int32Array(B);
  const targets = new Float32Array(single ? 0 : job.train.problemType === 'regression' ? B : B * C);
  const trainAccuracy = (correct: number, seen: number) => (job.train.problemType === 'regression' ? NaN : correct / seen);
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
          { train: true, seed: dropoutSeed(st.seed, state.globalStep, micro), tokenTypes: batch.tokenTypes });
        // Loss is the mean over the whole batch: each micro-batch carries its share.
        const share = part.length / B;
        if (single) {
          const lab = labels.subarray(0, part.length);
          part.forEach((i, r) => {
            lab[r] = job.train.labels[i];
            if (argmaxRow(logits, r, C) === lab[r]) p.correct++;
          });
          stepLoss += model.loss(lab, share) * share;
        } else {
          const width = job.train.problemType === 'regression' ? 1 : C;
          const t = targets.subarray(0, part.length * width);
          part.forEach((i, r) => t.set(job.train.targets.subarray(i * width, (i + 1) * width), r * width));
          p.correct += part.reduce((n, i, r) => n + scoreRows(logits.subarray(r * width, (r + 1) * width), job.train, i, 1, width).correct, 0);
          stepLoss += model.lossTargets(t, share) * share;
        }
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
      return { epoch: state.epoch, step: state.stepInEpoch, stepsPerEpoch, loss: p.lossSum / state.stepInEpoch, accuracy: trainAccuracy(p.correct, p.seen), tokensPerSecond: p.tokens / p.seconds };
    },
    epochRow: (state, stepsPerEpoch) => {
      const p = state.partial;
      const val = evaluateSet(model, job.validation, job.padId);
      return {
        epoch: state.epoch, trainLoss: p.lossSum / stepsPerEpoch, trainAccuracy: trainAccuracy(p.correct, p.seen),
        validationLoss: val.loss, validationAccuracy: val.accuracy, seconds: p.seconds, tokensPerSecond: p.tokens / p.seconds,
        tokens: p.tokens, paddingTokens: p.tokens - p.realTokens,
      };
    },
  });
}
