/**
 * A small seeded generator (xoshiro128**) for data order, splits and weight initialization.
 * Its state is four 32-bit words, so checkpoints can store and restore it exactly.
 */
export class Random {
  private s: Uint32Array;

  constructor(seed: number | number[]) {
    if (Array.isArray(seed)) {
      if (seed.length !== 4) throw new Error('a Random state is four 32-bit words');
      this.s = Uint32Array.from(seed);
    } else {
      // splitmix32 expands one seed into the four state words.
      this.s = new Uint32Array(4);
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        this.s[i] = mix32(x);
      }
    }
  }

  /**
   * A generator for one draw site named by several integer keys (seed, epoch, example, ...): each
   * state word is the keys folded through splitmix32's mixer, so neighbouring keys give unrelated
   * streams. (Raw words as the state would not: xoshiro's first output is a function of word 1 alone.)
   */
  static derive(...keys: number[]): Random {
    const words = [0, 1, 2, 3].map((w) => keys.reduce((x, k) => mix32((x ^ (k >>> 0)) + 0x9e3779b9), mix32(w + 0x6a09e667)));
    return new Random(words);
  }

  get state(): number[] {
    return Array.from(this.s);
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    return (this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11)) / 2 ** 53;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher-Yates shuffle of 0..n-1. */
  permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** splitmix32's output mixer. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
