// Uniform structs are declared once, here in TypeScript. From the declaration come both the packing (host side) and the
// WGSL struct text; a kernel's shader file declares the same struct so that it stays a valid, lintable WGSL file, and
// `assertShaderDeclares` checks at pipeline creation that the shader's struct has exactly these fields in this order.

export type ScalarType = 'u32' | 'i32' | 'f32';

export class UniformStruct<F extends Record<string, ScalarType>> {
  readonly byteSize: number;
  private readonly names: string[];

  constructor(
    readonly name: string,
    readonly fields: F,
  ) {
    this.names = Object.keys(fields);
    // Every field is 4 bytes; a uniform buffer binding is a multiple of 16 bytes.
    this.byteSize = Math.max(16, Math.ceil((this.names.length * 4) / 16) * 16);
  }

  get wgsl(): string {
    return `struct ${this.name} {\n${this.names.map((n) => `  ${n}: ${this.fields[n]},`).join('\n')}\n}`;
  }

  /** Packs the values in declaration order into `out` at `byteOffset` (or a fresh buffer). */
  pack(values: { [K in keyof F]: number }, out?: DataView, byteOffset = 0): DataView {
    const view = out ?? new DataView(new ArrayBuffer(this.byteSize));
    this.names.forEach((n, i) => {
      const v = (values as Record<string, number>)[n];
      if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`uniform ${this.name}.${n}: not a number (${String(v)})`);
      const at = byteOffset + i * 4;
      switch (this.fields[n]) {
        case 'u32':
          if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform ${this.name}.${n}: ${v} is not a u32`);
          view.setUint32(at, v, true);
          break;
        case 'i32':
          if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`uniform ${this.name}.${n}: ${v} is not an i32`);
          view.setInt32(at, v, true);
          break;
        case 'f32':
          view.setFloat32(at, v, true);
          break;
      }
    });
    return view;
  }
}

export function uniformStruct<F extends Record<string, ScalarType>>(name: string, fields: F): UniformStruct<F> {
  return new UniformStruct(name, fields);
}

/** Throws unless `source` declares `struct <name> { ... }` with exactly the fields of `s`, in order (comments ignored). */
export function assertShaderDeclares(source: string, s: UniformStruct<Record<string, ScalarType>>, shaderName: string): void {
  const noComments = source.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const m = new RegExp(`struct\\s+${s.name}\\s*\\{([^}]*)\\}`).exec(noComments);
  if (!m) throw new Error(`shader ${shaderName} does not declare struct ${s.name}; expected:\n${s.wgsl}`);
  const found = m[1]!
    .split(',')
    .map((f) => f.replace(/\s+/g, ''))
    .filter((f) => f.length > 0);
  const expected = Object.entries(s.fields).map(([n, t]) => `${n}:${t}`);
  if (found.join(',') !== expected.join(',')) {
    throw new Error(`shader ${shaderName}: struct ${s.name} is {${found.join(', ')}} but the host packs {${expected.join(', ')}}`);
  }
}
