// Text rules of the completion provider, free of 'vscode' so that unit tests can run them.

/** The completion less a tail that repeats the rest of the cursor's line (e.g. a closing bracket already there). */
export function withoutRestOfLine(text: string, rest: string): string {
  const tail = rest.trimEnd();
  if (tail === '') return text;
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  if (first.endsWith(tail)) return first.slice(0, first.length - tail.length);
  return nl < 0 ? text : first;
}
