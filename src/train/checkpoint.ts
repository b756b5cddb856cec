import { existsSync } from 'node:fs';
import { FORMATS, migrateCheckpointState } from '../io/migrations';
import { readSafetensorsWithMetadata, writeSafetensors } from '../io/safetensors';

/** One row of the card's per-epoch table (epoch is 0-based, as Keras prints it on the card). */
export interface EpochRow {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss: number;
  validationAccuracy: number;
  seconds: number;
  tokensPerSecond: number;
  /** Token positions computed in the epoch's training steps, and how many of them were padding. */
  tokens?: number;
  paddingTokens?: number;
}

/** Where training stands; with the weights and Adam moments it is all a resume needs. Row: one epoch's figures. */
export interface TrainState<Row = EpochRow> {
  /** Epochs completed. */
  epoch: number;
  /** Batches done in the current (unfinished) epoch: non-zero after an interrupt. */
  stepInEpoch: number;
  /** Optimizer updates done in total. */
  globalStep: number;
  /** Running sums of the unfinished epoch's training metrics; realTokens: tokens that were not padding. */
  partial: { lossSum: number; correct: number; seen: number; seconds: number; tokens: number; realTokens: number };
  /** The state's form (io/migrations.ts). */
  format?: number;
  history: Row[];
}

export interface Checkpoint<Row = EpochRow> {
  state: TrainState<Row>;
  params: Float32Array;
  adamM: Float32Array;
  adamV: Float32Array;
}

/** One file, written atomically (temporary name, then rename): weights, Adam moments and the state. */
export function saveCheckpoint<Row>(path: string, c: Checkpoint<Row>): void {
  writeSafetensors(
    path,
    [
      { name: 'params', shape: [c.params.length], data: c.params },
      { name: 'adam.m', shape: [c.adamM.length], data: c.adamM },
      { name: 'adam.v', shape: [c.adamV.length], data: c.adamV },
    ],
    { state: JSON.stringify({ ...c.state, format: FORMATS.checkpoint }) },
  );
}

export function loadCheckpoint<Row = EpochRow>(path: string): Checkpoint<Row> {
  if (!existsSync(path)) throw new Error(`${path}: no checkpoint to resume from`);
  const { tensors: t, metadata } = readSafetensorsWithMetadata(path);
  const get = (n: string) => {
    const v = t.get(n);
    if (!v) throw new Error(`${path}: checkpoint has no tensor ${n}`);
    return v.data;
  };
  const state = metadata.state;
  if (!state) throw new Error(`${path}: checkpoint has no training state`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(state);
  } catch (e) {
    throw new Error(`${path}: the training state is not JSON: ${(e as Error).message}`);
  }
  return { state: migrateCheckpointState(parsed, path) as unknown as TrainState<Row>, params: get('params'), adamM: get('adam.m'), adamV: get('adam.v') };
}

/** A checkpoint of a model's device state (weights and moments) with the loop's state. */
export function checkpointModel<Row>(path: string, state: TrainState<Row>, model: { readParams(): { data: Float32Array }; readMoments(): { m: Float32Array; v: Float32Array } }): void {
  const { m, v } = model.readMoments();
  saveCheckpoint(path, { state, params: model.readParams().data, adamM: m, adamV: v });
}
