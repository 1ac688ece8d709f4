// Typed readers of GGUF metadata keys, shared by the model configuration (config.ts) and the tokenizer: each checks the
// value's type and throws the caller's error class (ModelFormatError, TokenizerError) with a message naming the key and
// describing what was found instead.
import type { Metadata, MetadataValue } from './gguf.js';

/** A short description of a value for error messages: "the string \"1\"", "an array of 3 values", "number 1.5". */
export function describe(v: MetadataValue): string {
  if (Array.isArray(v)) return `an array of ${v.length} values`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

export class MetadataReader {
  constructor(
    private readonly md: Metadata,
    private readonly error: new (message: string) => Error,
  ) {}

  get(key: string): MetadataValue | undefined {
    return this.md.get(key);
  }

  has(key: string): boolean {
    return this.md.has(key);
  }

  /** A positive (or, with min 0, non-negative) integer that fits an i32; `def` when absent (undefined: required). */
  int(key: string, def?: number, min = 1): number {
    const v = this.get(key);
    if (v === undefined) return this.fallback(key, def);
    if (Array.isArray(v)) throw new this.error(`key ${key} is ${describe(v)}: per-layer values are not supported`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0x7fffffff) {
      throw new this.error(`key ${key} must be an integer >= ${min}, found ${describe(v)}`);
    }
    return v;
  }

  /** Any integer, e.g. a token id that the caller checks against its range (a 64-bit one beyond 2^53 is rounded). */
  anyInt(key: string): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') return Number(v);
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    throw new this.error(`key ${key} must be an integer, found ${describe(v)}`);
  }

  /** A finite number; `def` when absent (undefined: required). */
  num(key: string, def?: number): number {
    const v = this.get(key);
    if (v === undefined) return this.fallback(key, def);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new this.error(`key ${key} must be a finite number, found ${describe(v)}`);
    }
    return v;
  }

  /** A boolean (or the integer 0 or 1), or undefined when absent. */
  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined || typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    throw new this.error(`key ${key} must be a boolean, found ${describe(v)}`);
  }

  /** A string, or undefined when absent (required: throws then). */
  str(key: string): string | undefined;
  str(key: string, required: true): string;
  str(key: string, required = false): string | undefined {
    const v = this.get(key);
    if (v === undefined) {
      if (required) throw this.missing(key);
      return undefined;
    }
    if (typeof v !== 'string') throw new this.error(`key ${key} must be a string, found ${describe(v)}`);
    return v;
  }

  /** A required array of strings. */
  strings(key: string): string[] {
    const arr = this.array(key);
    if (arr === undefined) throw this.missing(key);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      if (typeof v !== 'string') throw new this.error(`key ${key}[${i}] must be a string, found ${describe(v)}`);
    }
    return arr as string[];
  }

  /** The first n values of an array of at least n numbers, or undefined when absent. */
  numbers(key: string, n: number): Float64Array | undefined {
    const arr = this.array(key);
    if (arr === undefined) return undefined;
    if (arr.length < n) throw new this.error(`key ${key} is ${describe(arr)}, expected at least ${n}`);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = arr[i]!;
      if (typeof v === 'number') out[i] = v;
      else if (typeof v === 'bigint') out[i] = Number(v);
      else throw new this.error(`key ${key}[${i}] must be a number, found ${describe(v)}`);
    }
    return out;
  }

  private array(key: string): MetadataValue[] | undefined {
    const v = this.get(key);
    if (v !== undefined && !Array.isArray(v)) throw new this.error(`key ${key} must be an array, found ${describe(v)}`);
    return v;
  }

  /** The default of an absent key; none: the key is required. */
  private fallback(key: string, def: number | undefined): number {
    if (def === undefined) throw this.missing(key);
    return def;
  }

  private missing(key: string): Error {
    return new this.error(`missing required key ${key}`);
  }
}
