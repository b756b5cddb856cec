/** The library API: load a model folder and classify, explain, tokenize, or train from TypeScript. */
export { BertTokenizer, Vocab, padBatch } from './tokenizer';
export type { Batch, Encoding, EncodeOptions, Spans, TokenSpan, WordSpan } from './tokenizer';
export { loadModelDir, saveCalibration, saveModelDir } from './model/model_dir';
export type { Calibration, LoadedModel } from './model/model_dir';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export { parseConfig, readConfig } from './model/config';
export type { ModelConfig } from './model/config';
export { EncoderClassifier } from './model/encoder_classifier';
export type { AdamStep, DeviceChoice, ForwardOptions, SequenceClassifierModel } from './model/model';
export { ParamStore } from './io/params';
export { Classifier } from './pipeline/classifier';
export type { Classification, Prediction } from './pipeline/classifier';
export { explain, EXPLAIN_METHODS, topWords } from './pipeline/explain';
export type { Explanation, ExplainMethod, ExplainOptions, WordAttribution } from './pipeline/explain';
export { calibrationStats, fitTemperature, withTemperature } from './eval/calibration';
export type { CalibrationStats, ReliabilityBin } from './eval/calibration';
export { engine } from './engine/native';
