// Number helpers for the end-to-end tests to open and edit.

export function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

export function mean(values: number[]): number {
  return sum(values) / values.length;
}
