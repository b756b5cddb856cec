import { Random } from '../data/random';
import { DistilBertMaskedLM } from '../model/masked_lm';
import { padBatch } from '../tokenizer';
import { AdamW } from '../train/adamw';
import { Checkpoint } from '../train/checkpoint';
import { LinearWarmupDecay } from '../train/schedule';
import { fullBatches, LoopHooks, LoopResult, runLoop, stepMicroBatches } from '../train/loop';
import { maskSequence, MaskingOptions, MaskingVocab } from './masking';

/** Pretraining hyperparameters (HF Trainer's names in comments). */
export interface PretrainSettings {
  epochs: number;
  batchSize: number;
  microBatch: number;
  /** Peak learning rate, reached after warmupSteps, then linear decay to 0. */
  lr: number;
  /** Undefined: 6% of all steps (RoBERTa's), counted over the sequences actually read. */
  warmupSteps?: number;
  weightDecay: number;
  /** max_grad_norm (HF's default 1.0); 0 = none. */
  clipNorm: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  maxLength: number;
  /** Windows of maxLength read from each text (textWindows). */
  windows: number;
  seed: number;
  masking: MaskingOptions;
}


/** One epoch's figures: mean masked-LM loss (per predicted token) and its perplexity. */
export interface PretrainEpochRow {
  epoch: number;
  loss: number;
  perplexity: number;
  predicted: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface PretrainJob {
  model: DistilBertMaskedLM;
  /** The sequences read: [CLS] ... [SEP], at most maxLength tokens each. */
  sequences: number[][];
  vocab: MaskingVocab;
  padId: number;
  settings: PretrainSettings;
  checkpointPath: string;
  resume?: Checkpoint<PretrainEpochRow>;
  hooks?: LoopHooks<{ epoch: number; step: number; stepsPerEpoch: number; loss: number; tokensPerSecond: number }, PretrainEpochRow>;
}

/** Dropout base of one micro-batch; apart from the trainer's streams by a bit of its own. */
function dropoutSeed(seed: number, globalStep: number, micro: number): number {
  return (((seed & 0xffff) * 2 ** 20 + globalStep) * 32 + micro) * 2 + 1;
}

/**
 * Masked-LM training: each epoch a fresh permutation of the sequences cut into full batches, masks
 * drawn afresh for every (epoch, sequence) from the seed alone (so a resumed run replays them), the
 * step's loss the mean over all its predicted tokens (HF's), AdamW with warmup and linear decay.
 * Checkpoints after every epoch and on stop. TrainState's `correct` counts predicted tokens.
 */
export async function pretrain(job: PretrainJob): Promise<LoopResult<PretrainEpochRow>> {
  const { model, settings: st } = job;
  const B = st.batchSize;
  const total = st.epochs * fullBatches(job.sequences.length, B, 'sequences');
  const adamw = new AdamW(new LinearWarmupDecay(st.lr, Math.min(st.warmupSteps ?? Math.round(0.06 * total), total), total), {
    beta1: st.beta1, beta2: st.beta2, epsilon: st.epsilon, weightDecay: st.weightDecay, clipNorm: st.clipNorm || undefined,
  });
  return runLoop({
    model, optimizer: adamw, examples: job.sequences.length, noun: 'sequences', batchSize: B, epochs: st.epochs, seed: st.seed,
    checkpointPath: job.checkpointPath, resume: job.resume, hooks: job.hooks,
    step: (idx, state) => {
      const p = state.partial;
      const masked = new Map(idx.map((i) => [i, maskSequence(job.sequences[i], job.vocab, st.masking,
        Random.derive(st.seed, state.epoch, i, 0x6d6c6d)) ]));
      const stepPredicted = idx.reduce((s, i) => s + masked.get(i)!.positions.length, 0);
      let stepLoss = 0;
      for (const [micro, part] of stepMicroBatches(idx, (i) => job.sequences[i].length, st.microBatch).entries()) {
        const seqs = part.map((i) => masked.get(i)!);
        const batch = padBatch(seqs.map((s) => ({ ids: s.ids, truncated: false })), job.padId);
        const T = batch.seqLen;
        const predict = Int32Array.from(seqs.flatMap((s, b) => s.positions.map((t) => b * T + t)));
        const labels = Int32Array.from(seqs.flatMap((s) => s.labels));
        if (!predict.length) continue;  // sequences with nothing but special tokens
        model.forward(batch.inputIds, batch.attentionMask, part.length, T, predict,
          { train: true, seed: dropoutSeed(st.seed, state.globalStep, micro) });
        // The step's loss is the mean over all of its predicted tokens: each micro-batch carries its share.
        const share = predict.length / stepPredicted;
        stepLoss += model.loss(labels, share) * share;
        model.backward();
        p.tokens += part.length * T;
      }
      adamw.update(model);
      p.lossSum += stepLoss * stepPredicted;
      p.correct += stepPredicted;
      p.seen += B;
    },
    progress: (state, stepsPerEpoch) => {
      const p = state.partial;
      return { epoch: state.epoch, step: state.stepInEpoch, stepsPerEpoch, loss: p.lossSum / p.correct, tokensPerSecond: p.tokens / p.seconds };
    },
    epochRow: (state) => {
      const p = state.partial, loss = p.lossSum / p.correct;
      return { epoch: state.epoch, loss, perplexity: Math.exp(loss), predicted: p.correct, seconds: p.seconds, tokensPerSecond: p.tokens / p.seconds };
    },
  });
}
