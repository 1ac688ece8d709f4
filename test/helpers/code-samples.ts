// Code the bundled code model is run on by pie-code-tiny.test.ts and peers.test.ts (docs/peers.md's figures were
// measured on these texts): a Python module, the same as a script, and a TypeScript function.

export const PY_MODULE = `import os
import sys


def read_lines(path, encoding="utf-8"):
    """Returns the lines of a file without their line ends."""
    with open(path, encoding=encoding) as f:
        return [line.rstrip("\\n") for line in f]


class Counter:
    def __init__(self, start=0):
        self.value = start

    def increment(self, by=1):
        self.value += by
        return self.value
`;

export const PY_SCRIPT = `${PY_MODULE}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name, len(read_lines(name)))
`;

export const TS_FUNCTION = `export function debounce<T extends (...args: unknown[]) => void>(fn: T, ms: number): T {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return ((...args: unknown[]) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  }) as T;
}
`;
