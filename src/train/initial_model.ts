import { join } from 'node:path';
import { Random } from '../data/random';
import { ModelConfig, ModelHead, parseConfig, ProblemType, readConfig } from '../model/config';
import { cachedDownload, PINNED_SHA256, SOURCES } from '../io/download';
import { resolveModel } from '../io/hub';
import { missingMessage, readWeights, weightsFile } from '../model/model_dir';
import { ParamStore } from '../io/params';
import { BertTokenizer } from '../tokenizer';
import { headParams, initParams } from './init';
import { TrainSettings } from './presets';

/** Where a run starts: "scratch", a model folder or a hub id (with its revision); the vocabulary for scratch. */
export interface InitSource {
  init: string;
  vocab?: string;
  revision?: string;
}

export type ModelSettings = Pick<TrainSettings, 'seed' | 'dropout' | 'attentionDropout' | 'seqClassifDropout' | 'arch'>;

/**
 * Model config, tokenizer and initial weights of a fresh run with the given head. From a
 * checkpoint, the body's tensors are loaded; a head it lacks, or one made for other labels,
 * is initialized afresh (HF's ignore_mismatched_sizes), and tensors of other heads are reported unused.
 */
export async function initialModel(o: InitSource, st: ModelSettings, task: { labels: string[]; problemType: ProblemType }, head: ModelHead): Promise<{ config: ModelConfig; params: ParamStore; tokenizer: BertTokenizer }> {
  const rng = new Random(st.seed);
  const labelling = { id2label: Object.fromEntries(task.labels.map((l, i) => [String(i), l])), problem_type: task.problemType };
  const common = { dropout: st.dropout, attention_dropout: st.attentionDropout, seq_classif_dropout: st.seqClassifDropout, ...labelling };
  if (o.init === 'scratch') {
    const vocabPath = o.vocab ?? (await cachedDownload(`${SOURCES.hub}/distilbert-base-uncased/resolve/main/vocab.txt`, 'hub/distilbert-base-uncased/vocab.txt', '--vocab <vocab.txt>', PINNED_SHA256.vocab));
    const tokenizer = BertTokenizer.load(vocabPath);
    const config: ModelConfig = {
      ...parseConfig({
        model_type: 'distilbert', vocab_size: tokenizer.vocab.size, max_position_embeddings: 512,
        n_layers: st.arch.nLayers, dim: st.arch.dim, n_heads: st.arch.nHeads, hidden_dim: st.arch.hiddenDim, ...common,
      }),
      head,
    };
    const params = new ParamStore(config);
    initParams(params, rng);
    return { config, params, tokenizer };
  }
  const dir = await resolveModel(o.init, '--init <model folder>', o.revision);
  const base = readConfig(join(dir, 'config.json'));
  if (head === 'masked-lm' && base.modelType !== 'distilbert') throw new Error(`${join(dir, 'config.json')}: model_type ${base.modelType}: masked-LM pretraining runs DistilBERT only (BERT is fine-tuned with train)`);
  // The run's dropouts under the checkpoint's own names (BertConfig's for a BERT).
  const settings = base.modelType === 'bert'
    ? { hidden_dropout_prob: st.dropout, attention_probs_dropout_prob: st.attentionDropout, classifier_dropout: st.seqClassifDropout, ...labelling }
    : common;
  const config: ModelConfig = { ...parseConfig({ ...base.raw, ...settings }, join(dir, 'config.json')), head };
  const params = new ParamStore(config);
  const weightsPath = weightsFile(dir);
  const tensors = readWeights(weightsPath);
  const ours = headParams(head, config.modelType);
  const unused: string[] = [];
  for (const h of ours) {
    const t = tensors.get(h), want = params.byName.get(h)!.shape;
    if (t && t.shape.join() !== want.join()) {
      tensors.delete(h);
      unused.push(`${h} (shape [${t.shape}])`);
    }
  }
  // Tensors of other heads (a classifier's, a masked LM's vocab_* and tied vocab_projector.weight,
  // BERT's cls.predictions.*) are not used.
  unused.push(...[...tensors.keys()].filter((k) => !params.slotFor(k)));
  const missing = params.load(tensors, weightsPath);
  const body = missing.filter((m) => !ours.includes(m));
  if (body.length) throw new Error(missingMessage(weightsPath, body));
  initParams(params, rng, missing);
  // As transformers says it when loading a checkpoint into another architecture.
  if (unused.length) process.stderr.write(`not used from ${weightsPath}: ${unused.join(', ')}\n`);
  if (missing.length) process.stderr.write(`initialized ${missing.join(', ')} (normal(0, ${config.initializerRange}), zero bias)\n`);
  return { config, params, tokenizer: BertTokenizer.load(dir) };
}
