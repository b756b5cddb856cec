/** The library API: load a model folder and classify, tokenize, or train from TypeScript. */
export { BertTokenizer, Vocab, padBatch } from './tokenizer';
export type { Batch, Encoding, EncodeOptions } from './tokenizer';
export { loadModelDir, saveModelDir } from './io/model_dir';
export type { LoadedModel } from './io/model_dir';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export { parseConfig, readConfig } from './io/config';
export type { DistilBertConfig } from './io/config';
export { DistilBert } from './model/distilbert';
export type { AdamStep, DeviceChoice, ForwardOptions, SequenceClassifierModel } from './model/model';
export { ParamStore } from './io/params';
export { Classifier } from './model/classifier';
export type { Classification, Prediction } from './model/classifier';
export { engine } from './engine/native';
