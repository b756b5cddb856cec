import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The model shape the engine builds (native/addon.cc reads these fields): ModelConfig
 * (src/model/config.ts) is one, so that the engine, at the bottom of the layers, names no model type.
 */
export interface EngineConfig {
  head: 'classifier' | 'masked-lm';
  /** DistilBERT, or BERT (token-type embeddings, a dropout after the attention output, pooler dense + tanh). */
  modelType: 'distilbert' | 'bert';
  /** The classifier's loss and output, as transformers' problem_type: softmax, sigmoid per label, or one value. */
  problemType: 'single_label_classification' | 'multi_label_classification' | 'regression';
  /** BERT's token types (0 for DistilBERT). */
  typeVocabSize: number;
  layerNormEps: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  sinusoidalPosEmbds: boolean;
  nLayers: number;
  nHeads: number;
  dim: number;
  hiddenDim: number;
  dropout: number;
  attentionDropout: number;
  seqClassifDropout: number;
  activation: 'gelu' | 'gelu_new' | 'relu';
  /** The classifier's labels (their count sizes the head). */
  id2label: string[];
}

/** Where one named parameter lives in the flat buffer. Names and shapes mirror Hugging Face's. */
export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/**
 * One DistilBertForSequenceClassification, BertForSequenceClassification or DistilBertForMaskedLM
 * (config.modelType, config.head) on a backend (native/model/encoder.h): the model
 * step runs natively; parameters, gradients and Adam moments live on the device and cross to
 * the host only through the get/set calls. Every array is checked for type and exact length.
 */
export interface NativeModel {
  readonly paramCount: number;
  readonly device: string;
  setParams(params: Float32Array): void;
  /** On the CPU the engine then works in this array's own memory where it starts on a 64-byte boundary (paramArray's do); elsewhere a copy. Returns whether it works in the array. */
  adoptParams(params: Float32Array): boolean;
  getParams(out: Float32Array): void;
  getGrads(out: Float32Array): void;
  setMoments(m: Float32Array, v: Float32Array): void;
  getMoments(m: Float32Array, v: Float32Array): void;
  /**
   * Logits [B, labels] into logitsOut (null: not copied out). grad false: inference (lean
   * workspace, no backward). Masked LM: `predict` lists the increasing flat positions b*T+t
   * whose tokens the head predicts, and the logits are [predict.length, vocab].
   */
  forward(
    ids: Int32Array, mask: Int32Array, B: number, T: number, train: boolean, seed: number, grad: boolean, allHidden: boolean,
    logitsOut: Float32Array | null, predict?: Int32Array | null, tokenTypes?: Int32Array | null,
  ): void;
  /** An eval-mode classifier forward that keeps gradients, from embeddings outputs [B*T*dim] instead of token ids. */
  forwardEmbedded(embedded: Float32Array, mask: Int32Array, B: number, T: number, logitsOut: Float32Array): void;
  /**
   * The gradient of sum(dlogits * logits) of the last forward (eval mode, gradients kept, classifier) with respect to
   * the embeddings output, into dEmbedded [B*T*dim]; that output itself into embeddedOut (null: not copied). No weight
   * gradient is formed.
   */
  inputGradients(dlogits: Float32Array, dEmbedded: Float32Array, embeddedOut: Float32Array | null): void;
  /** Mean cross-entropy of the last forward (one label per logits row); dlogits scaled by gradScale for backward(). */
  loss(labels: Int32Array, gradScale: number): number;
  /** Multi-label (targets 0..1, B x labels) or regression (B values): mean BCE with logits or squared error, as loss(). */
  lossTargets(targets: Float32Array, gradScale: number): number;
  /** The head's hidden vector [B*dim] of the last eval-mode forward (BERT's pooler output). */
  pooledOutput(out: Float32Array): void;
  /** A profiling model's kernel times since the last call, by kernel (each call synchronized); then starts afresh. */
  takeProfile(): Record<string, { ms: number; calls: number }>;
  backward(): void;
  zeroGrads(): void;
  /** Keras Adam (bias correction folded into alpha), then zeroes the gradients. clipNorm <= 0: none. */
  adamStep(alpha: number, beta1: number, beta2: number, eps: number, clipNorm: number, sparse: boolean): void;
  /** torch.optim.AdamW (decay off for biases and LayerNorm weights), update number t from 1, then zeroes the gradients. */
  adamwStep(lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, t: number, clipNorm: number): void;
  hiddenState(i: number, out: Float32Array): void;
  releaseWorkspace(): void;
  workspaceBytes(): number;
}

/** The native engine (native/, built by node-gyp at npm install). */
export interface Engine {
  /** device "cpu", "cuda" or "cuda:N"; precision of the matrix products: "fp32" (default), on CUDA also "tf32", "bf16". */
  Model: new (config: EngineConfig, device: string, precision?: string, profile?: boolean) => NativeModel;
  /** CPU threads of the engine; thisThread: the calling thread's alone (a worker thread's), not the process default. */
  setThreads(n: number, thisThread?: boolean): void;
  getThreads(): number;
  /** The calling thread's nice value (0..19, Linux): it then yields the CPU to the process's other threads. Returns whether it took effect. */
  lowerThreadPriority(nice: number): boolean;
  /** The architecture's one parameter table (native/model/config.cc). */
  paramLayout(config: EngineConfig): ParamSlot[];
  /** n zeros for a model's weights, in memory the CPU engine works in (64-byte aligned, transparent huge pages from the first touch where Linux allows). */
  paramArray(n: number): Float32Array;
  /** Backends this build holds ("cpu", and "cuda" where it was built with CUDA). */
  backends(): string[];
  /** GFLOP/s of an n^3 product: fp32 / bf16 as the linear layers run it (oneDNN), or OpenBLAS's sgemm. */
  gemmGflops(n: number, reps: number, kind: 'fp32' | 'bf16' | 'openblas'): number;
}

let loaded: Engine | undefined;

export function engine(): Engine {
  if (loaded) return loaded;
  // dist/src/engine -> repository root
  const path = join(__dirname, '..', '..', '..', 'build', 'Release', 'engine.node');
  if (!existsSync(path)) {
    throw new Error(`native engine not built (${path} missing): run npm install (needs g++ and libopenblas-openmp-dev)`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require(path) as Engine;
  return loaded;
}
