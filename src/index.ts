/** The library API: load a model folder and classify, tokenize, or train from TypeScript. */
export { BertTokenizer, Vocab, padBatch } from './tokenizer';
export type { Batch, Encoding, EncodeOptions } from './tokenizer';
export { loadModelDir, saveModelDir } from './model/model_dir';
export type { LoadedModel } from './model/model_dir';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export { parseConfig, readConfig } from './model/config';
export type { DistilBertConfig } from './model/config';
export { DistilBert } from './model/distilbert';
export type { AdamStep, DeviceChoice, ForwardOptions, SequenceClassifierModel } from './model/model';
export { ParamStore } from './io/params';
export { Classifier } from './pipeline/classifier';
export type { Classification, Prediction } from './pipeline/classifier';
export { engine } from './engine/native';
