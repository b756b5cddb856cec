import { totalmem } from 'node:os';
import { engine, EngineConfig, ParamSlot } from '../engine/native';
import { readSafetensors, Tensor } from './safetensors';

export type { ParamSlot } from '../engine/native';

/** The ordered list of every parameter of the configured model (the engine's table). */
export function paramShapes(c: EngineConfig): ParamSlot[] {
  return engine().paramLayout(c);
}

/** All parameters in one flat Float32Array (llm.c style); gradients and Adam moments reuse the layout. */
export class ParamStore<C extends EngineConfig = EngineConfig> {
  readonly slots: ParamSlot[];
  readonly byName: Map<string, ParamSlot>;
  readonly data: Float32Array;

  constructor(readonly config: C, data?: Float32Array) {
    this.slots = paramShapes(config);
    const last = this.slots[this.slots.length - 1];
    const offset = last.offset + last.size;
    this.byName = new Map(this.slots.map((s) => [s.name, s]));
    if (data && data.length !== offset) throw new Error(`parameter buffer has ${data.length} values, the model needs ${offset}`);
    // The weights live twice (here and in the engine), with gradients and moments when training:
    // refuse a model whose weights alone could not fit twice, before allocating anything.
    const gib = (offset * 4) / 2 ** 30;
    if (!data && offset * 4 * 2 > totalmem()) {
      throw new Error(`the configuration describes ${offset.toLocaleString('en')} parameters (${gib.toFixed(1)} GiB of float32 weights), more than this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GiB of memory allows`);
    }
    if (data) {
      this.data = data;
    } else {
      // The CPU engine works in this memory (EngineModel): aligned as its own buffers, and zero pages
      // not yet touched, so that the weights are loaded into huge pages.
      this.data = engine().paramArray(offset);
    }
  }

  get size(): number {
    return this.data.length;
  }

  /** A view (no copy) of one parameter. */
  get(name: string): Float32Array {
    const s = this.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return this.data.subarray(s.offset, s.offset + s.size);
  }

  /**
   * The slot a checkpoint's tensor name fills, as transformers maps names when loading: the name
   * itself, the name under the model's prefix (a bare DistilBertModel's or BertModel's checkpoint
   * lacks `distilbert.` / `bert.`), and old TF-era LayerNorm names (`gamma`, `beta`).
   */
  slotFor(name: string): ParamSlot | undefined {
    const renamed = name.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    return this.byName.get(renamed) ?? this.byName.get(`${this.config.modelType}.${renamed}`);
  }

  /**
   * Copies tensors in by HF name (slotFor's rules). Returns the parameters that were not found.
   */
  load(tensors: Map<string, Tensor>, source: string): string[] {
    const bySlot = new Map<string, Tensor>();
    for (const [name, t] of tensors) {
      const slot = this.slotFor(name);
      if (slot && (!bySlot.has(slot.name) || name === slot.name)) bySlot.set(slot.name, t);
    }
    const missing: string[] = [];
    for (const s of this.slots) {
      const t = bySlot.get(s.name);
      if (!t) {
        missing.push(s.name);
        continue;
      }
      const what = t.origin ? `tensor ${s.name} (TF variable ${t.origin})` : `tensor ${s.name}`;
      if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
        throw new Error(`${source}: ${what} has shape [${t.shape}], config.json implies [${s.shape}]`);
      }
      const bad = t.data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`${source}: ${what} holds ${t.data[bad]} at index ${bad}: weights must be finite`);
      const inPlace = t.data.buffer === this.data.buffer && t.data.byteOffset === this.data.byteOffset + s.offset * 4;
      if (!inPlace) this.data.set(t.data, s.offset);
    }
    return missing;
  }

  /** load() from a safetensors file, its tensors read straight into their slots (no second copy of the weights). */
  loadFile(path: string): string[] {
    const tensors = readSafetensors(path, (name, shape) => {
      const slot = this.slotFor(name);
      const fits = slot && slot.shape.length === shape.length && slot.shape.every((d, i) => d === shape[i]);
      return fits ? this.get(slot.name) : undefined;
    });
    return this.load(tensors, path);
  }

  tensors(): { name: string; shape: number[]; data: Float32Array }[] {
    return this.slots.map((s) => ({ name: s.name, shape: s.shape, data: this.get(s.name) }));
  }
}
