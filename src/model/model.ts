import { ModelConfig } from './config';
import { ParamStore } from '../io/params';

export interface ForwardOptions {
  /** Train mode applies dropout; eval mode (default) does not. */
  train?: boolean;
  /** Base of the dropout random streams for this step (train mode). */
  seed?: number;
  /** Keep the activations for backward() (default); false is inference: a lean workspace, no backward. */
  grad?: boolean;
  /** Compute every position of the last layer too, so that hiddenStates() is complete. */
  allHiddenStates?: boolean;
  /** BERT's token_type_ids [B*T] (absent: all 0); DistilBERT has none and ignores them. */
  tokenTypes?: Int32Array;
}

/** Where the model step runs: the engine backend and the precision of its matrix products. */
export interface DeviceChoice {
  /** "cpu" (default), "cuda" (the first GPU) or "cuda:N" (GPU N), where the CUDA backend was built. */
  device?: string;
  /** "fp32" (default); on CUDA also "tf32" and "bf16" (bf16 operands, fp32 accumulation and weights). */
  precision?: string;
  /** Time every kernel call, synchronizing after it (`bench --profile`); read with takeProfile(). */
  profile?: boolean;
}

/** Adam's step as the optimizer hands it to the model (bias correction folded into alpha, as Keras does). */
export interface AdamStep {
  alpha: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Global-norm clipping threshold; undefined = none. */
  clipNorm?: number;
  /** Skip word-embedding rows that never had a gradient (exact; default true). */
  sparse?: boolean;
}

/** torch.optim.AdamW's step as the optimizer hands it to the model. */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** This update's number, from 1 (bias correction). */
  t: number;
  clipNorm?: number;
}

/** A model step with Keras Adam and AdamW: what the optimizers drive. */
export interface OptimizedModel {
  adamStep(step: AdamStep): void;
  adamwStep(step: AdamWStep): void;
}

/**
 * A sequence classifier whose model step runs on a device: what the trainer, the optimizer,
 * the classifier and the server depend on (EncoderClassifier is the one implementation today).
 */
export interface SequenceClassifierModel extends OptimizedModel {
  readonly config: ModelConfig;
  readonly device: string;
  /** Logits [B, labels] for row-major [B, T] ids and mask (a fresh array). */
  forward(ids: Int32Array, mask: Int32Array, B: number, T: number, opts?: ForwardOptions): Float32Array;
  /** Eval-mode logits from embeddings outputs [B*T*dim] (word + position embeddings after their LayerNorm), gradients kept. */
  forwardEmbedded(embedded: Float32Array, mask: Int32Array, B: number, T: number): Float32Array;
  /**
   * After an eval-mode forward that kept gradients: the gradient of sum(dlogits * logits) with respect to the
   * embeddings output [B*T*dim], and that output. No weight gradient is formed.
   */
  inputGradients(dlogits: Float32Array): { grad: Float32Array; embedded: Float32Array };
  /** Mean cross-entropy of the last forward (single-label); the gradient is scaled by gradScale (a micro-batch's share). */
  loss(labels: Int32Array, gradScale?: number): number;
  /** Multi-label (B x labels targets in [0, 1]) or regression (B values): mean BCE with logits or squared error, as loss(). */
  lossTargets(targets: Float32Array, gradScale?: number): number;
  /** Adds the gradients of the last loss() to the accumulated gradients. */
  backward(): void;
  zeroGrads(): void;
  readParams(): ParamStore;
  writeParams(data: Float32Array): void;
  readGrads(): ParamStore;
  readMoments(): { m: Float32Array; v: Float32Array };
  writeMoments(m: Float32Array, v: Float32Array): void;
  /** Frees the device workspaces (planned again by the next forward). */
  releaseWorkspace(): void;
}
