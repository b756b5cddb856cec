import { Random } from '../data/random';
import { faultPoint } from '../io/fault';
import { argmaxRow, predictLogits } from '../model/inference';
import { SequenceClassifierModel } from '../model/model';
import { LabelledSet } from '../data/dataset';
import { padBatch } from '../tokenizer';
import { KerasAdam } from './adam';
import { AdamW } from './adamw';
import { Checkpoint, checkpointModel, EpochRow, TrainState } from './checkpoint';
import { PolynomialDecay } from './schedule';
import { TrainSettings } from './presets';

/** What a training loop tells its caller (Step: running figures after a step; Row: an epoch's figures). */
export interface LoopHooks<Step, Row> {
  /** Called after each optimizer step with running figures of the epoch. */
  onStep?(info: Step): void;
  onEpochStart?(epoch: number, startStep: number, stepsPerEpoch: number): void;
  onEpochEnd?(row: Row): void;
  /** Polled after every step; true saves a checkpoint and stops. */
  shouldStop?(): boolean;
}

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

export interface TrainResult {
  history: EpochRow[];
  interrupted: boolean;
  state: TrainState;
}

/** The data order of an epoch: a permutation that depends only on (seed, epoch), so resumes replay it. */
export function epochOrder(seed: number, epoch: number, n: number): number[] {
  return new Random([seed >>> 0, epoch >>> 0, 0x20, 0x6e657773]).permutation(n);
}

/**
 * The micro-batches of one optimizer step. When the step is accumulated over several, its
 * examples are ordered by length first, so that each micro-batch pads to a length close to its
 * own: the step's mean gradient is the same sum, with far less work on padding. (A step that is
 * one micro-batch keeps the permutation's order, so its dropout draws are unchanged.)
 */
export function stepMicroBatches(idx: number[], lengthOf: (i: number) => number, micro: number): number[][] {
  const order = micro < idx.length ? [...idx].sort((a, b) => lengthOf(a) - lengthOf(b) || a - b) : idx;
  const out: number[][] = [];
  for (let m = 0; m < order.length; m += micro) out.push(order.slice(m, m + micro));
  return out;
}

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
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, logits[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[r * C + c] - mx);
    loss += mx + Math.log(s) - logits[r * C + set.labels[r]];
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
  const { model, settings: st, hooks = {} } = job;
  const C = model.config.id2label.length;
  const n = job.train.encodings.length;
  const B = st.batchSize;
  const stepsPerEpoch = Math.floor(n / B);
  if (stepsPerEpoch < 1) throw new Error(`batch size ${B} is larger than the ${n} training examples`);
  const schedule = new PolynomialDecay(st.lr, st.epochs * stepsPerEpoch, 0, 1);
  const adam = st.optimizer === 'adamw'
    ? new AdamW(schedule, { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, weightDecay: st.weightDecay ?? 0.01, clipNorm: st.clipNorm })
    : new KerasAdam(schedule, { beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, clipNorm: st.clipNorm });
  const state: TrainState = job.resume?.state ?? {
    epoch: 0, stepInEpoch: 0, globalStep: 0, history: [],
    partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0, tokens: 0, realTokens: 0 },
  };
  if (job.resume) {
    model.writeParams(job.resume.params);
    model.writeMoments(job.resume.adamM, job.resume.adamV);
    adam.step = state.globalStep;
  }
  const save = () => checkpointModel(job.checkpointPath, state, model);
  const labels = new Int32Array(B);

  while (state.epoch < st.epochs) {
    const order = epochOrder(st.seed, state.epoch, n);
    hooks.onEpochStart?.(state.epoch, state.stepInEpoch, stepsPerEpoch);
    const p = state.partial;
    for (; state.stepInEpoch < stepsPerEpoch; ) {
      const t0 = process.hrtime.bigint();
      const idx = order.slice(state.stepInEpoch * B, (state.stepInEpoch + 1) * B);
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
        p.realTokens = (p.realTokens ?? 0) + part.reduce((s, i) => s + job.train.encodings[i].ids.length, 0);
      }
      adam.update(model);
      p.lossSum += stepLoss;
      p.seen += B;
      state.globalStep++;
      state.stepInEpoch++;
      faultPoint('step');
      p.seconds += Number(process.hrtime.bigint() - t0) / 1e9;
      hooks.onStep?.({ epoch: state.epoch, step: state.stepInEpoch, stepsPerEpoch, loss: p.lossSum / state.stepInEpoch,
        accuracy: p.correct / p.seen, tokensPerSecond: p.tokens / p.seconds });
      // Let signal handlers and the progress bar run between steps.
      await new Promise((r) => setImmediate(r));
      if (hooks.shouldStop?.()) {
        save();
        return { history: state.history, interrupted: true, state };
      }
    }
    const val = evaluateSet(model, job.validation, job.padId);
    const row: EpochRow = {
      epoch: state.epoch, trainLoss: p.lossSum / stepsPerEpoch, trainAccuracy: p.correct / p.seen,
      validationLoss: val.loss, validationAccuracy: val.accuracy, seconds: p.seconds, tokensPerSecond: p.tokens / p.seconds,
      tokens: p.tokens, paddingTokens: p.tokens - (p.realTokens ?? p.tokens),
    };
    state.history.push(row);
    state.epoch++;
    state.stepInEpoch = 0;
    state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0, tokens: 0, realTokens: 0 };
    save();
    hooks.onEpochEnd?.(row);
  }
  return { history: state.history, interrupted: false, state };
}
