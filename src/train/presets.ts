/** Training hyperparameters; every field can be overridden from the command line. */
export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  maxLength: number;
  seed: number;
  dropout: number;
  attentionDropout: number;
  seqClassifDropout: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Global-norm gradient clipping: Keras Adam's clipnorm, or AdamW's max_grad_norm (HF Trainer's, default 1.0). */
  clipNorm?: number;
  /** Keras Adam as on the card (default), or torch AdamW with decoupled weight decay (not on biases and LayerNorm weights). */
  optimizer?: 'adam' | 'adamw';
  /** AdamW's weight decay (default 0, as HF Trainer's). */
  weightDecay?: number;
  /** AdamW's linear warmup, in steps or as a share of all steps (HF Trainer's warmup_steps / warmup_ratio; default none). */
  warmupSteps?: number;
  warmupRatio?: number;
  /** Model shape for --init scratch; ignored when starting from a pretrained folder. */
  arch: { nLayers: number; dim: number; nHeads: number; hiddenDim: number };
}

const common = { epochs: 10, batchSize: 80, seed: 42, dropout: 0.1, attentionDropout: 0.1, seqClassifDropout: 0.2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

export const PRESETS: Record<'card' | 'small', TrainSettings> = {
  // The model card: distilbert-base, 512 tokens, batch 80, Adam 2e-5 -> 0 over all steps, 10 epochs.
  card: { ...common, lr: 2e-5, maxLength: 512, arch: { nLayers: 6, dim: 768, nHeads: 12, hiddenDim: 3072 } },
  // A model small enough to train from scratch on a CPU.
  small: { ...common, lr: 5e-4, maxLength: 256, arch: { nLayers: 2, dim: 256, nHeads: 4, hiddenDim: 1024 } },
};

export type PresetName = keyof typeof PRESETS;
