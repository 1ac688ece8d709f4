// Unicode tables as llama.cpp's unicode.cpp has them (code point flags: general category and its own whitespace set,
// masked to the Unicode version of its tables) and the text helpers the tokenizers share (UTF-8, code points).

// Code point flags, as llama.cpp's unicode_cpt_flags
const F_UNDEFINED = 0x0001;
export const F_NUMBER = 0x0002;
export const F_LETTER = 0x0004;
const F_SEPARATOR = 0x0008;
export const F_MARK = 0x0010;
export const F_PUNCT = 0x0020;
export const F_SYMBOL = 0x0040;
const F_CONTROL = 0x0080;
export const F_WHITESPACE = 0x0100;

const CATEGORY_TESTS: readonly [RegExp, number][] = [
  [/^\p{L}$/u, F_LETTER],
  [/^\p{N}$/u, F_NUMBER],
  [/^\p{P}$/u, F_PUNCT],
  [/^\p{S}$/u, F_SYMBOL],
  [/^\p{M}$/u, F_MARK],
  [/^\p{Z}$/u, F_SEPARATOR],
  [/^\p{Cn}$/u, F_UNDEFINED],
];

export function isLlamaWhitespace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

// llama.cpp's category tables (unicode-data.cpp) are Unicode 15.1; JS engines carry newer Unicode data (Node 20: 17.0).
// These are the code points the two disagree on, all of them assigned in Unicode 16.0 or 17.0 and thus undefined in
// llama.cpp (found by comparing its table with Node's \p{..} for every code point). A runtime with Unicode older than
// 15.1 or newer than 17.0 still differs from llama.cpp on the code points assigned in between.
const ASSIGNED_AFTER_UNICODE_15_1 =
  '88f 897 c5c cdc 1acf-1add 1ae0-1aeb 1b4e-1b4f 1b7f 1c89-1c8a 20c1 2427-2429 2b96 31e4-31e5 a7cb-a7cf a7d2 a7d4 ' +
  'a7da-a7dc a7f1 fbc3-fbd2 fd90-fd91 fdc8-fdce 105c0-105f3 10940-10959 10d40-10d65 10d69-10d85 10d8e-10d8f ' +
  '10ec2-10ec7 10ed0-10ed8 10efa-10efc 11380-11389 1138b 1138e 11390-113b5 113b7-113c0 113c2 113c5 113c7-113ca ' +
  '113cc-113d5 113d7-113d8 113e1-113e2 116d0-116e3 11b60-11b67 11bc0-11be1 11bf0-11bf9 11db0-11ddb 11de0-11de9 11f5a ' +
  '13460-143fa 16100-16139 16d40-16d79 16ea0-16eb8 16ebb-16ed3 16ff2-16ff6 187f8-187ff 18cff 18d09-18d1e 18d80-18df2 ' +
  '1cc00-1ccfc 1cd00-1ceb3 1ceba-1ced0 1cee0-1cef0 1e5d0-1e5fa 1e5ff 1e6c0-1e6de 1e6e0-1e6f5 1e6fe-1e6ff 1f6d8 ' +
  '1f777-1f77a 1f8b2-1f8bb 1f8c0-1f8c1 1f8d0-1f8d8 1fa54-1fa57 1fa89-1fa8a 1fa8e-1fa8f 1fabe 1fac6 1fac8 1facd 1fadc ' +
  '1fadf 1fae9-1faea 1faef 1fbcb-1fbef 1fbfa 2b73a-2b73f 2cea2-2cead 323b0-33479';

const NEWER_THAN_LLAMA_CPP: readonly (readonly [number, number])[] = ASSIGNED_AFTER_UNICODE_15_1.split(' ').map((r) => {
  const [a, b = a] = r.split('-').map((h) => parseInt(h, 16));
  return [a!, b!] as const;
});

function newerThanLlamaCpp(cp: number): boolean {
  let lo = 0;
  let hi = NEWER_THAN_LLAMA_CPP.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = NEWER_THAN_LLAMA_CPP[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

// Filled lazily, one entry per code point (0 = not computed yet; every computed value is non-zero).
let flagTable: Uint16Array | null = null;

export function cptFlags(cp: number): number {
  if (cp > 0x10ffff) return F_UNDEFINED;
  const table = (flagTable ??= new Uint16Array(0x110000));
  let f = table[cp]!;
  if (f !== 0) return f;
  if (newerThanLlamaCpp(cp)) {
    f = F_UNDEFINED;
  } else {
    const s = String.fromCodePoint(cp);
    f = F_CONTROL; // Cc, Cf, Co, Cs
    for (const [re, flag] of CATEGORY_TESTS) {
      if (re.test(s)) {
        f = flag;
        break;
      }
    }
  }
  if (isLlamaWhitespace(cp)) f |= F_WHITESPACE;
  table[cp] = f;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------------
// Text helpers

export const utf8Encoder = new TextEncoder();

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function wellFormed(s: string): string {
  return /[\uD800-\uDFFF]/.test(s) ? s.replace(LONE_SURROGATE, '\uFFFD') : s;
}

/** Code points of a well-formed string, and the UTF-16 index where each starts (u16[n] = s.length). */
export function codePoints(s: string): { cps: Uint32Array; u16: Uint32Array } {
  const cps = new Uint32Array(s.length);
  const u16 = new Uint32Array(s.length + 1);
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.codePointAt(i)!;
    cps[n] = c;
    u16[n] = i;
    n++;
    i += c > 0xffff ? 2 : 1;
  }
  u16[n] = s.length;
  return { cps: cps.subarray(0, n), u16: u16.subarray(0, n + 1) };
}

/** The string of these UTF-16 code units (in chunks: an argument list has a size limit). */
export function charsFromCodes(codes: Uint8Array | Uint16Array): string {
  let out = '';
  for (let i = 0; i < codes.length; i += 8192) out += String.fromCharCode(...codes.subarray(i, i + 8192));
  return out;
}
