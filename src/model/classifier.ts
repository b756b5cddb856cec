import { LoadedModel } from '../io/model_dir';
import { BertTokenizer } from '../tokenizer';
import { DistilBert } from './distilbert';
import { DeviceChoice, SequenceClassifierModel } from './model';
import { predictLogits, softmaxRows } from './inference';

export interface Prediction {
  label: string;
  score: number;
}

export interface Classification {
  /** Labels ranked by probability, the top k. */
  predictions: Prediction[];
  /** True when the text had more tokens than the model takes and was cut. */
  truncated: boolean;
  tokens: number;
}

/** Text in, ranked labels out: tokenizer + model + softmax, batched. */
export class Classifier {
  readonly model: SequenceClassifierModel;
  readonly tokenizer: BertTokenizer;
  readonly labels: string[];
  readonly maxLength: number;

  /**
   * maxLength: tokens per text, [CLS] and [SEP] included (default: tokenizer_config's model_max_length);
   * device: where the model step runs (default: the CPU in fp32).
   */
  constructor(loaded: LoadedModel, maxLength?: number, device: DeviceChoice = {}) {
    this.model = new DistilBert(loaded.config, loaded.params, device);
    this.tokenizer = loaded.tokenizer;
    this.labels = loaded.config.id2label;
    this.maxLength = Math.min(maxLength ?? loaded.tokenizer.modelMaxLength, loaded.config.maxPositionEmbeddings);
  }

  /** Probabilities [n, labels] (float64) and per-text truncation flags. */
  probabilities(texts: string[], batchSize = 32): { probs: Float64Array; truncated: boolean[]; tokens: number[] } {
    const enc = texts.map((t) => this.tokenizer.encode(t, { maxLength: this.maxLength }));
    const logits = predictLogits(this.model, enc, this.tokenizer.padId, batchSize);
    return { probs: softmaxRows(logits, this.labels.length), truncated: enc.map((e) => e.truncated), tokens: enc.map((e) => e.ids.length) };
  }

  classify(texts: string[], topK = this.labels.length): Classification[] {
    const C = this.labels.length;
    const { probs, truncated, tokens } = this.probabilities(texts);
    return texts.map((_, r) => {
      const ranked = this.labels.map((label, c) => ({ label, score: probs[r * C + c] })).sort((a, b) => b.score - a.score);
      return { predictions: ranked.slice(0, Math.min(topK, C)), truncated: truncated[r], tokens: tokens[r] };
    });
  }
}
