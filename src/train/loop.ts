import { Random } from '../data/random';
import { faultPoint } from '../io/fault';
import { Checkpoint, checkpointModel, TrainState } from './checkpoint';

/** What a training loop tells its caller (Step: running figures after a step; Row: an epoch's figures). */
export interface LoopHooks<Step, Row> {
  /** Called after each optimizer step with running figures of the epoch. */
  onStep?(info: Step): void;
  onEpochStart?(epoch: number, startStep: number, stepsPerEpoch: number): void;
  onEpochEnd?(row: Row): void;
  /** Polled after every step; true saves a checkpoint and stops. */
  shouldStop?(): boolean;
}

/** The device state a checkpoint holds: weights and optimizer moments. */
export interface CheckpointedModel {
  readParams(): { data: Float32Array };
  writeParams(data: Float32Array): void;
  readMoments(): { m: Float32Array; v: Float32Array };
  writeMoments(m: Float32Array, v: Float32Array): void;
}

export interface LoopResult<Row> {
  history: Row[];
  interrupted: boolean;
  state: TrainState<Row>;
}

/** One run of epochs: what a task (fine-tuning, masked-LM pretraining) supplies to the shared loop. */
export interface LoopSpec<Step, Row> {
  model: CheckpointedModel;
  /** The optimizer's update count is set from the checkpoint on resume. */
  optimizer: { step: number };
  /** Examples per epoch, and what they are called in messages. */
  examples: number;
  noun: string;
  batchSize: number;
  epochs: number;
  seed: number;
  checkpointPath: string;
  resume?: Checkpoint<Row>;
  hooks?: LoopHooks<Step, Row>;
  /** Forward, backward and optimizer update of one step over the examples `idx`; adds to state.partial (all but seconds). */
  step(idx: number[], state: TrainState<Row>): void;
  /** The running figures after a step (state counts it already). */
  progress(state: TrainState<Row>, stepsPerEpoch: number): Step;
  /** The finished epoch's row, from its partial sums (validation, where the task has one). */
  epochRow(state: TrainState<Row>, stepsPerEpoch: number): Row;
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

/** Full batches of B in n examples (the steps of an epoch); an error when there is none. */
export function fullBatches(n: number, B: number, noun: string): number {
  const steps = Math.floor(n / B);
  if (steps < 1) throw new Error(`batch size ${B} is larger than the ${n} ${noun}`);
  return steps;
}

const freshPartial = (): TrainState['partial'] => ({ lossSum: 0, correct: 0, seen: 0, seconds: 0, tokens: 0, realTokens: 0 });

/**
 * The run lifecycle every training task shares (as HF Trainer and Keras fit do): each epoch a
 * fresh permutation cut into full batches (the remainder is dropped), the task's step on each, its
 * row at the epoch's end, a checkpoint after every epoch and on stop, resume from a checkpoint at
 * the step it was taken.
 */
export async function runLoop<Step, Row>(spec: LoopSpec<Step, Row>): Promise<LoopResult<Row>> {
  const { hooks = {} } = spec;
  const n = spec.examples, B = spec.batchSize;
  const stepsPerEpoch = fullBatches(n, B, spec.noun);
  const state: TrainState<Row> = spec.resume?.state ?? { epoch: 0, stepInEpoch: 0, globalStep: 0, history: [], partial: freshPartial() };
  if (spec.resume) {
    spec.model.writeParams(spec.resume.params);
    spec.model.writeMoments(spec.resume.adamM, spec.resume.adamV);
    spec.optimizer.step = state.globalStep;
  }
  const save = () => checkpointModel(spec.checkpointPath, state, spec.model);
  while (state.epoch < spec.epochs) {
    const order = epochOrder(spec.seed, state.epoch, n);
    hooks.onEpochStart?.(state.epoch, state.stepInEpoch, stepsPerEpoch);
    for (; state.stepInEpoch < stepsPerEpoch; ) {
      const t0 = process.hrtime.bigint();
      spec.step(order.slice(state.stepInEpoch * B, (state.stepInEpoch + 1) * B), state);
      state.globalStep++;
      state.stepInEpoch++;
      faultPoint('step');
      state.partial.seconds += Number(process.hrtime.bigint() - t0) / 1e9;
      hooks.onStep?.(spec.progress(state, stepsPerEpoch));
      // Let signal handlers and the progress bar run between steps.
      await new Promise((r) => setImmediate(r));
      if (hooks.shouldStop?.()) {
        save();
        return { history: state.history, interrupted: true, state };
      }
    }
    const row = spec.epochRow(state, stepsPerEpoch);
    state.history.push(row);
    state.epoch++;
    state.stepInEpoch = 0;
    state.partial = freshPartial();
    save();
    hooks.onEpochEnd?.(row);
  }
  return { history: state.history, interrupted: false, state };
}
