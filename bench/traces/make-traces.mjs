// Writes the fidelity traces (bench/traces/<name>.txt and <name>-edits.jsonl) from the scripts below, so that every
// offset is computed from the text rather than counted by hand. Run: node bench/traces/make-traces.mjs
//
// A script is a document and a list of steps. Each step edits the text as a writer would (replace a phrase, delete a
// sentence, type a word letter by letter, change several places at once like a multi-cursor edit) and then asks for a
// completion with the cursor placed after the edits (at the end of a later sentence), where the positions of the rows
// after the edit matter.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Offset of `needle` in `text` (the n-th occurrence, from 0); throws when absent so a script can't silently drift. */
function find(text, needle, n = 0) {
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`"${needle}" (occurrence ${n}) not in the text`);
  }
  return at;
}

// Step builders: each returns (text) => { changes, cursor } for the text before the step.
const replace = (old, now, n = 0) => (text) => [{ rangeOffset: find(text, old, n), rangeLength: old.length, text: now }];
const remove = (old, n = 0) => replace(old, '', n);
const insertAfter = (anchor, what, n = 0) => (text) => [{ rangeOffset: find(text, anchor, n) + anchor.length, rangeLength: 0, text: what }];
/** Typing `what` after `anchor` one character at a time: one change per keystroke, as the editor reports them. */
const type = (anchor, what, n = 0) => (text) => {
  const at = find(text, anchor, n) + anchor.length;
  return [...what].map((ch, i) => ({ rangeOffset: at + what.slice(0, i).length, rangeLength: 0, text: ch }));
};
/** Several edits in one event (a multi-cursor edit): applied in order, each offset in the text the previous one left. */
const multi = (...parts) => (text) => {
  const changes = [];
  let t = text;
  for (const part of parts) {
    for (const c of part(t)) {
      changes.push(c);
      t = t.slice(0, c.rangeOffset) + c.text + t.slice(c.rangeOffset + c.rangeLength);
    }
  }
  return changes;
};

function apply(text, changes) {
  for (const c of changes) text = text.slice(0, c.rangeOffset) + c.text + text.slice(c.rangeOffset + c.rangeLength);
  return text;
}

/** step(edit, cursorAfter): completes after the first occurrence of `cursorAfter` in the edited text. */
function build(name, document, steps, maxTokens = 16) {
  let text = document;
  const lines = [];
  for (const [edit, cursorAfter, n = 0] of steps) {
    const changes = edit(text);
    text = apply(text, changes);
    const cursor = find(text, cursorAfter, n) + cursorAfter.length;
    lines.push(JSON.stringify({ changes, cursor, complete: { maxTokens } }));
  }
  writeFileSync(join(here, `${name}.txt`), document);
  writeFileSync(join(here, `${name}-edits.jsonl`), lines.join('\n') + '\n');
  console.log(`${name}: ${steps.length} steps, ${document.length} -> ${text.length} characters`);
}

build(
  'garden',
  `Ben was a small boy who lived on a farm. Every morning he woke up early and helped his dad feed the cows. The cows were big and brown, and they liked to eat green grass.

One day, Ben found a tiny seed in the barn. He showed it to his mom. "What is this?" he asked. His mom smiled and said, "It is a sunflower seed. If you plant it, it will grow very tall."

Ben dug a hole in the garden and put the seed in it. He gave it water every day. At first, nothing happened. Ben was sad, but he did not give up.

After many days, a little green plant came out of the ground. Ben was so happy! He ran to tell his dad. His dad said, "You did a good job, Ben. You were very patient."

The plant grew and grew. Soon it was taller than Ben. A big yellow flower opened at the top. Birds came to eat the seeds, and Ben gave some seeds to his friends.
`,
  [
    [replace('small boy', 'little boy'), 'he asked.'],
    [type('they liked to eat ', 'fresh '), 'he asked.'],
    [replace('a tiny seed', 'a tiny brown seed'), 'His mom smiled and said,'],
    [remove(' He showed it to his mom.'), 'it will grow very tall.'],
    [insertAfter('He gave it water every day.', ' He sang to it too.'), 'At first, nothing happened.'],
    [type('Ben was sad, but he ', 'still '), 'After many days,'],
    [replace('His dad said,', 'His dad hugged him and said,'), 'You were very patient.'],
    [multi(replace('Ben found', 'Sam found'), replace('Ben dug', 'Sam dug')), 'Soon it was taller than'],
    [remove('One day, '), 'A big yellow flower'],
    [replace('Birds came to eat the seeds', 'Many birds came to eat the seeds'), 'and Ben gave some seeds to his'],
    [type('Every morning he ', 'always '), 'nothing happened.'],
    [insertAfter('The plant grew and grew.', ' It was green and strong.'), 'Soon it was'],
    [multi(replace('early', 'very early'), replace('tall.', 'tall and pretty.')), 'He ran to tell'],
    [replace('After many days', 'After a long time'), 'Ben was so'],
    [remove(' Ben was sad, but he still did not give up.'), 'His dad hugged him'],
    [type('He ran to tell his dad', ' and his mom'), 'A big yellow flower opened'],
  ],
);

build(
  'kite',
  `Mia had a red kite. She loved to fly it in the park with her big brother, Sam. The kite had a long tail with blue ribbons.

One windy day, Mia and Sam went to the park. Sam held the string and Mia ran fast. The kite went up, up, up into the sky. "Look, Sam! It is so high!" Mia shouted.

Then the wind got very strong. The string broke, and the kite flew away. Mia started to cry. "My kite is gone!" she said.

Sam hugged her. "Do not be sad, Mia. We can look for it," he said. They walked and walked. At last they saw the kite in a tall tree. A kind man with a ladder helped them get it down.

Mia said thank you to the man. She held the kite very tight all the way home. That night, she dreamed about flying with her kite over the hills.
`,
  [
    [replace('a red kite', 'a big red kite'), 'her big brother, Sam.'],
    [replace('blue ribbons', 'blue and yellow ribbons'), 'Sam held the string'],
    [type('Mia ran ', 'very '), 'into the sky.'],
    [remove(' The kite had a long tail with blue and yellow ribbons.'), 'Mia shouted.'],
    [insertAfter('One windy day,', ' after lunch,'), 'The string broke,'],
    [replace('Mia started to cry.', 'Mia was sad and started to cry.'), 'she said.'],
    [multi(replace('Sam held', 'Max held'), replace('Look, Sam', 'Look, Max'), replace('Sam hugged', 'Max hugged')), 'We can look for it,'],
    [type('They walked and ', 'looked and '), 'At last they saw'],
    [replace('A kind man', 'An old man'), 'helped them get it'],
    [remove('Then the wind got very strong. '), 'Max hugged her.'],
    [insertAfter('She held the kite very tight', ' with both hands'), 'That night,'],
    [replace('over the hills', 'over the green hills'), 'Mia said thank you'],
    [type('At last they saw the kite in a ', 'very '), 'A'],
    [multi(replace('park', 'field'), replace('park', 'field')), 'The kite went up,'],
    [remove(' "Look, Max! It is so high!" Mia shouted.'), 'The string broke,'],
    [replace('That night', 'Later that night'), 'she dreamed about'],
  ],
);

build(
  'cake',
  `It was Dad's birthday. Anna and her little brother Leo wanted to make him a cake. Mom said she would help them.

First, they put flour, sugar and eggs in a big bowl. Leo mixed it with a spoon. Some flour fell on the floor, and Leo laughed. Anna said, "Be careful, Leo!"

Mom put the cake in the oven. The kitchen smelled sweet and warm. Anna and Leo waited by the oven door. They could not wait to see the cake.

When the cake was ready, they put pink frosting on top. Leo added little red candies. Anna wrote "Happy Birthday" with a spoon.

When Dad came home, everyone shouted, "Surprise!" Dad was very happy. He hugged Anna and Leo and said it was the best cake ever. They all ate cake and sang songs until it was time for bed.
`,
  [
    [replace('make him a cake', 'make him a big cake'), 'Mom said she would'],
    [type('Leo mixed it with a ', 'wooden '), 'Anna said,'],
    [replace('flour, sugar and eggs', 'flour, sugar, milk and eggs'), 'Some flour fell on the floor,'],
    [remove(' Some flour fell on the floor, and Leo laughed.'), 'Mom put the cake in the oven.'],
    [insertAfter('The kitchen smelled sweet and warm.', ' Anna licked the spoon.'), 'They could not wait'],
    [multi(replace('Leo mixed', 'Tim mixed'), replace('careful, Leo', 'careful, Tim')), 'When the cake was ready,'],
    [replace('pink frosting', 'pink and white frosting'), 'with a spoon.'],
    [type('Dad was very ', 'very '), 'He hugged Anna'],
    [remove(' Mom said she would help them.'), 'The kitchen smelled'],
    [replace('little red candies', 'some little red candies'), 'When Dad came home,'],
    [insertAfter('It was Dad\'s birthday.', ' The sun was shining.'), 'First, they put'],
    [type('They all ate ', 'the '), 'until it was time'],
    [replace('shouted, "Surprise!"', 'jumped and shouted, "Surprise!"'), 'Dad was very'],
    [multi(replace('oven', 'hot oven'), replace('waited by', 'sat by')), 'They could not wait to see'],
    [remove(' Anna licked the spoon.'), 'When the cake was ready, they'],
    [replace('best cake ever', 'best cake in the world'), 'They all ate'],
  ],
);

// Code traces (names start with `code-`: `node bench/fidelity.mjs --set code` runs them with the code model): a
// programmer's edits (rename across a file, add a parameter, type a statement, delete a block, change a literal) in
// files near the code model's context (1024 tokens), with completions asked further down, where moved rows matter.
build(
  'code-py',
  `"""A small inventory of parts, with reservations and a report."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Part:
    name: str
    count: int = 0
    price: float = 0.0
    tags: list[str] = field(default_factory=list)

    def value(self) -> float:
        return self.count * self.price


class OutOfStock(Exception):
    pass


class Inventory:
    def __init__(self) -> None:
        self.parts: dict[str, Part] = {}
        self.reserved: dict[str, int] = {}

    def add(self, name: str, count: int, price: float = 0.0) -> Part:
        part = self.parts.get(name)
        if part is None:
            part = Part(name, 0, price)
            self.parts[name] = part
        part.count += count
        if price:
            part.price = price
        return part

    def available(self, name: str) -> int:
        part = self.parts.get(name)
        if part is None:
            return 0
        return part.count - self.reserved.get(name, 0)

    def reserve(self, name: str, count: int) -> None:
        if self.available(name) < count:
            raise OutOfStock(f"only {self.available(name)} of {name} left")
        self.reserved[name] = self.reserved.get(name, 0) + count

    def release(self, name: str, count: int) -> None:
        left = self.reserved.get(name, 0) - count
        if left > 0:
            self.reserved[name] = left
        else:
            self.reserved.pop(name, None)

    def ship(self, name: str, count: int) -> None:
        self.release(name, count)
        self.parts[name].count -= count

    def total_value(self) -> float:
        return sum(part.value() for part in self.parts.values())

    def tagged(self, tag: str) -> list[Part]:
        return [part for part in self.parts.values() if tag in part.tags]

    def report(self) -> str:
        lines = []
        for name in sorted(self.parts):
            part = self.parts[name]
            lines.append(f"{name}: {part.count} at {part.price:.2f}")
        lines.append(f"total: {self.total_value():.2f}")
        return "\\n".join(lines)

    def save(self, path: str) -> None:
        data = {name: [p.count, p.price, p.tags] for name, p in self.parts.items()}
        with open(path, "w") as f:
            json.dump(data, f, indent=2)

    @classmethod
    def load(cls, path: str) -> Inventory:
        inventory = cls()
        with open(path) as f:
            data = json.load(f)
        for name, (count, price, tags) in data.items():
            inventory.parts[name] = Part(name, count, price, tags)
        return inventory


def main() -> None:
    inventory = Inventory()
    inventory.add("bolt", 100, 0.25)
    inventory.add("nut", 250, 0.1)
    inventory.add("washer", 80, 0.05)
    inventory.reserve("bolt", 30)
    inventory.ship("bolt", 20)
    print(inventory.report())


if __name__ == "__main__":
    main()
`,
  [
    [replace('"""A small inventory of parts, with reservations and a report."""', '"""An inventory of parts: stock, reservations, shipping and a report."""'), '    def ship(self, name: str, count: int) -> None:\n'],
    [type('class OutOfStock(Exception):\n', '    """Raised when a reservation asks for more than is left."""\n'), '    def total_value(self) -> float:\n'],
    [multi(replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held'), replace('self.reserved', 'self.held')), '    def report(self) -> str:\n'],
    [replace('    price: float = 0.0\n', '    price: float = 0.0\n    location: str = ""\n'), '    def save(self, path: str) -> None:\n'],
    [type('    def add(self, name: str, count: int, price: float = 0.0', ', location: str = ""'), '    def tagged(self, tag: str) -> list[Part]:\n'],
    [remove('    def tagged(self, tag: str) -> list[Part]:\n        return [part for part in self.parts.values() if tag in part.tags]\n\n'), '        lines.append('],
    [replace('inventory.add("nut", 250, 0.1)', 'inventory.add("nut", 500, 0.08)'), '    inventory.ship("bolt", 20)\n'],
    [type('from dataclasses import dataclass, field\n', 'from pathlib import Path\n'), '    @classmethod\n'],
    [replace('json.dump(data, f, indent=2)', 'json.dump(data, f, indent=2, sort_keys=True)'), 'def main() -> None:\n'],
    [remove('    def release(self, name: str, count: int) -> None:\n        left = self.held.get(name, 0) - count\n        if left > 0:\n            self.held[name] = left\n        else:\n            self.held.pop(name, None)\n\n'), '    def report(self) -> str:\n        lines = []\n'],
    [insertAfter('        self.held: dict[str, int] = {}\n', '        self.log: list[str] = []\n'), '            lines.append(f"{name}: '],
    [type('    def value(self) -> float:\n        return self.count * self.price\n', '\n    def empty(self) -> bool:\n        return self.count == 0\n'), '    inventory.reserve("bolt", 30)\n'],
  ],
);

build(
  'code-ts',
  `// A text buffer with line offsets, an undo stack and change listeners.

export interface Change {
  offset: number;
  length: number;
  text: string;
}

export type Listener = (change: Change, version: number) => void;

export class TextBuffer {
  private text: string;
  private lineStarts: number[] = [0];
  private undoStack: Change[] = [];
  private listeners: Listener[] = [];
  private version = 0;

  constructor(text = '') {
    this.text = text;
    this.computeLines();
  }

  get length(): number {
    return this.text.length;
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  getText(): string {
    return this.text;
  }

  lineAt(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  lineText(line: number): string {
    const start = this.lineStarts[line];
    const end = line + 1 < this.lineStarts.length ? this.lineStarts[line + 1] - 1 : this.text.length;
    return this.text.slice(start, end);
  }

  apply(change: Change): Change {
    const removed = this.text.slice(change.offset, change.offset + change.length);
    this.text = this.text.slice(0, change.offset) + change.text + this.text.slice(change.offset + change.length);
    this.computeLines();
    this.version++;
    const inverse = { offset: change.offset, length: change.text.length, text: removed };
    this.undoStack.push(inverse);
    for (const listener of this.listeners) listener(change, this.version);
    return inverse;
  }

  insert(offset: number, text: string): void {
    this.apply({ offset, length: 0, text });
  }

  delete(offset: number, length: number): void {
    this.apply({ offset, length, text: '' });
  }

  undo(): boolean {
    const change = this.undoStack.pop();
    if (!change) return false;
    this.apply(change);
    this.undoStack.pop();
    return true;
  }

  onChange(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private computeLines(): void {
    this.lineStarts = [0];
    for (let i = 0; i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    }
  }
}

export function countWords(buffer: TextBuffer): number {
  const words = buffer.getText().split(/\\s+/).filter((w) => w.length > 0);
  return words.length;
}
`,
  [
    [replace('// A text buffer with line offsets, an undo stack and change listeners.', '// A text buffer for an editor: line offsets, undo and change listeners.'), '  insert(offset: number, text: string): void {\n'],
    [multi(replace('undoStack', 'history'), replace('undoStack', 'history'), replace('undoStack', 'history'), replace('undoStack', 'history')), '  onChange(listener: Listener): () => void {\n'],
    [type('  private version = 0;\n', '  private readonly maxUndo = 1000;\n'), '  private computeLines(): void {\n'],
    [replace('  text: string;\n}', '  text: string;\n  /** Who made the change (for the listeners). */\n  source?: string;\n}'), '  delete(offset: number, length: number): void {\n'],
    [remove('  get lineCount(): number {\n    return this.lineStarts.length;\n  }\n\n'), '  undo(): boolean {\n'],
    [type('    this.computeLines();\n    this.version++;\n', '    if (this.history.length > this.maxUndo) this.history.shift();\n'), 'export function countWords(buffer: TextBuffer): number {\n'],
    [replace('const mid = (lo + hi + 1) >> 1;', 'const mid = Math.ceil((lo + hi) / 2);'), '  lineText(line: number): string {\n'],
    [insertAfter("export type Listener = (change: Change, version: number) => void;\n", "\nexport const EMPTY: Change = { offset: 0, length: 0, text: '' };\n"), '  private computeLines(): void {\n    this.lineStarts = [0];\n'],
    [multi(replace('listener(change, this.version)', 'listener(change, this.version, this)'), replace('(change: Change, version: number) => void', '(change: Change, version: number, buffer: TextBuffer) => void')), '    return () => {\n'],
    [type('  getText(): string {\n    return this.text;\n  }\n', '\n  get currentVersion(): number {\n    return this.version;\n  }\n'), '  apply(change: Change): Change {\n'],
  ],
);
