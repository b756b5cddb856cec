import { readJsonIfExists } from './json_file';

/**
 * The weights files of a model folder in transformers' order: safetensors, sharded safetensors (the
 * index), a PyTorch checkpoint, a sharded one, TF weights.
 */
export const WEIGHTS_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5'];

/**
 * The shard files a sharded checkpoint's index names (its weight_map's values), each a plain file
 * name of the index's own kind: the index is untrusted input that names files to read or download.
 */
export function shardFiles(indexPath: string): string[] {
  const map = (readJsonIfExists(indexPath) as { weight_map?: unknown } | undefined)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${indexPath}: weight_map must be an object of tensor name -> shard file`);
  const ext = indexPath.endsWith('.safetensors.index.json') ? '.safetensors' : '.bin';
  const files = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const f of files) {
    if (typeof f !== 'string' || !/^[\w.-]+$/.test(f) || f.startsWith('.') || !f.endsWith(ext)) {
      throw new Error(`${indexPath}: shard ${JSON.stringify(f)} is not a ${ext} file name in the model folder`);
    }
  }
  if (!files.length) throw new Error(`${indexPath}: weight_map names no shard`);
  return files as string[];
}
