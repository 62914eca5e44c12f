/**
 * The `regex` kind's matcher: a Thompson-NFA simulation (Pike VM), so time is linear in the text (times the
 * pattern's size) whatever the pattern: `(a+)+b` on a long run of `a` costs what `a+b` does. No backtracking, so no
 * backreferences or lookaround. Accepted syntax (anything else is refused when GUARDRAILS is parsed):
 *
 *   literals and `\` escapes of punctuation; `.` (any character but a newline); classes `[abc]`, `[^a-z]`, with
 *   `\d \w \s` (and `\D \W \S`) inside or outside them; `\n \r \t`; groups `( … )` and `(?: … )`; alternation `|`;
 *   `* + ?` and `{m}`, `{m,}`, `{m,n}` (n ≤ 100; a lazy `?` after them is accepted and means the same: every match
 *   is the leftmost-longest); anchors `^ $` (of the whole text) and `\b`; a leading `(?i)` ignores ASCII case.
 *
 * A compiled pattern has at most 2,000 instructions, and a match is at most 4,096 characters long (a longer one is
 * not found): so a scan's memory is bounded too.
 */
import type { Match } from "./pii";

export interface Regex {
  /** Leftmost-longest matches, not overlapping, in order; empty matches are skipped. */
  matches(text: string): Match[];
}

const MAX_PROGRAM = 2000;
const MAX_REPEAT = 100;
const MAX_MATCH = 4096;

type Node =
  | { t: "set"; test: (c: number) => boolean }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "rep"; node: Node; min: number; max: number }
  | { t: "assert"; kind: "^" | "$" | "b" }
  | { t: "empty" };

const isDigit = (c: number) => c >= 48 && c <= 57;
const isWord = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0xfeff;
const fold = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

class Parser {
  i = 0;
  constructor(private readonly p: string, private readonly icase: boolean) {}

  fail(msg: string): never {
    throw new Error(`${msg} at offset ${this.i} of /${this.p.slice(0, 100)}/`);
  }

  parse(): Node {
    const n = this.alt();
    if (this.i < this.p.length) this.fail(`unexpected "${this.p[this.i]}"`);
    return n;
  }

  alt(): Node {
    const items = [this.cat()];
    while (this.p[this.i] === "|") {
      this.i++;
      items.push(this.cat());
    }
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }

  cat(): Node {
    const items: Node[] = [];
    while (this.i < this.p.length && this.p[this.i] !== "|" && this.p[this.i] !== ")") items.push(this.repeat(this.atom()));
    return items.length === 1 ? items[0]! : items.length ? { t: "cat", items } : { t: "empty" };
  }

  repeat(node: Node): Node {
    for (;;) {
      const c = this.p[this.i];
      let min: number;
      let max: number;
      if (c === "*") [min, max] = [0, Infinity];
      else if (c === "+") [min, max] = [1, Infinity];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{" && /^\{\d+(,\d*)?\}/.test(this.p.slice(this.i, this.i + 12))) {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(this.i, this.i + 12))!;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.fail(`a repeat count above ${MAX_REPEAT}`);
        if (max < min) this.fail("a repeat {m,n} with n < m");
        this.i += m[0].length - 1;
      } else return node;
      this.i++;
      if (this.p[this.i] === "?") this.i++;
      if (node.t === "assert") this.fail("a repeated anchor");
      node = { t: "rep", node, min, max };
    }
  }

  atom(): Node {
    const c = this.p[this.i++]!;
    switch (c) {
      case "(": {
        if (this.p.startsWith("?:", this.i)) this.i += 2;
        else if (this.p[this.i] === "?") this.fail("lookaround and named groups are not supported");
        const n = this.alt();
        if (this.p[this.i] !== ")") this.fail("a group is not closed");
        this.i++;
        return n;
      }
      case ")":
        this.fail('unmatched ")"');
      case "*": case "+": case "?":
        this.fail(`nothing to repeat before "${c}"`);
      case "[":
        return this.klass();
      case ".":
        return { t: "set", test: (x) => x !== 10 && x !== 13 };
      case "^":
        return { t: "assert", kind: "^" };
      case "$":
        return { t: "assert", kind: "$" };
      case "\\": {
        if (this.p[this.i] === "b") {
          this.i++;
          return { t: "assert", kind: "b" };
        }
        return { t: "set", test: this.escape() };
      }
      default:
        return { t: "set", test: this.literal(c.charCodeAt(0)) };
    }
  }

  literal(code: number): (x: number) => boolean {
    if (this.icase) {
      const f = fold(code);
      return (x) => fold(x) === f;
    }
    return (x) => x === code;
  }

  /** After a `\`: a class escape, a control escape or a literal. */
  escape(): (x: number) => boolean {
    const e = this.p[this.i++];
    if (e === undefined) this.fail("a pattern ends with \\");
    switch (e) {
      case "d": return isDigit;
      case "D": return (x) => !isDigit(x);
      case "w": return isWord;
      case "W": return (x) => !isWord(x);
      case "s": return isSpace;
      case "S": return (x) => !isSpace(x);
      case "n": return (x) => x === 10;
      case "r": return (x) => x === 13;
      case "t": return (x) => x === 9;
    }
    if (/[A-Za-z0-9]/.test(e)) this.fail(`the escape \\${e} is not supported`);
    return this.literal(e.charCodeAt(0));
  }

  klass(): Node {
    const negate = this.p[this.i] === "^";
    if (negate) this.i++;
    const tests: ((x: number) => boolean)[] = [];
    const ranges: [number, number][] = [];
    let first = true;
    for (;;) {
      if (this.i >= this.p.length) this.fail("a class [ is not closed");
      let c = this.p[this.i++]!;
      if (c === "]" && !first) break;
      first = false;
      let lo: number;
      if (c === "\\") {
        const e = this.p[this.i];
        if (e && "dDwWsS".includes(e)) {
          tests.push(this.escape());
          continue;
        }
        const t = this.escape();
        lo = [...Array(128).keys()].find((k) => t(k)) ?? this.p.charCodeAt(this.i - 1);
      } else lo = c.charCodeAt(0);
      let hi = lo;
      if (this.p[this.i] === "-" && this.p[this.i + 1] !== "]" && this.i + 1 < this.p.length) {
        this.i++;
        c = this.p[this.i++]!;
        if (c === "\\") {
          const t = this.escape();
          hi = [...Array(128).keys()].find((k) => t(k)) ?? this.p.charCodeAt(this.i - 1);
        } else hi = c.charCodeAt(0);
        if (hi < lo) this.fail("a class range out of order");
      }
      ranges.push([lo, hi]);
      if (this.icase) {
        for (const [a, b] of [[65, 90], [97, 122]] as const) {
          const s = Math.max(lo, a);
          const e = Math.min(hi, b);
          if (s <= e) ranges.push([s ^ 32, e ^ 32]);
        }
      }
    }
    const inRanges = (x: number) => {
      for (const [a, b] of ranges) if (x >= a && x <= b) return true;
      for (const t of tests) if (t(x)) return true;
      return false;
    };
    return { t: "set", test: negate ? (x) => !inRanges(x) : inRanges };
  }
}

// The program: instructions in arrays (op, two operands, a test).
const CHAR = 0;
const SPLIT = 1;
const JMP = 2;
const ASSERT = 3;
const MATCH = 4;

class Program {
  op: number[] = [];
  x: number[] = [];
  y: number[] = [];
  test: (((c: number) => boolean) | undefined)[] = [];
  kind: (string | undefined)[] = [];

  emit(op: number, x = 0, y = 0): number {
    if (this.op.length >= MAX_PROGRAM) throw new Error(`the pattern is too large (over ${MAX_PROGRAM} instructions)`);
    this.op.push(op);
    this.x.push(x);
    this.y.push(y);
    this.test.push(undefined);
    this.kind.push(undefined);
    return this.op.length - 1;
  }

  gen(n: Node): void {
    switch (n.t) {
      case "empty":
        return;
      case "set": {
        const pc = this.emit(CHAR);
        this.test[pc] = n.test;
        return;
      }
      case "assert": {
        const pc = this.emit(ASSERT);
        this.kind[pc] = n.kind;
        return;
      }
      case "cat":
        for (const item of n.items) this.gen(item);
        return;
      case "alt": {
        const jumps: number[] = [];
        for (let k = 0; k < n.items.length; k++) {
          if (k < n.items.length - 1) {
            const split = this.emit(SPLIT);
            this.x[split] = split + 1;
            this.gen(n.items[k]!);
            jumps.push(this.emit(JMP));
            this.y[split] = this.op.length;
          } else this.gen(n.items[k]!);
        }
        for (const j of jumps) this.x[j] = this.op.length;
        return;
      }
      case "rep": {
        for (let k = 0; k < n.min; k++) this.gen(n.node);
        if (n.max === Infinity) {
          const split = this.emit(SPLIT);
          this.x[split] = split + 1;
          this.gen(n.node);
          this.x[this.emit(JMP)] = split;
          this.y[split] = this.op.length;
        } else {
          const splits: number[] = [];
          for (let k = n.min; k < n.max; k++) {
            const split = this.emit(SPLIT);
            this.x[split] = split + 1;
            splits.push(split);
            this.gen(n.node);
          }
          for (const s of splits) this.y[s] = this.op.length;
        }
        return;
      }
    }
  }
}

export function compileRegex(pattern: string): Regex {
  let icase = false;
  let p = pattern;
  if (p.startsWith("(?i)")) {
    icase = true;
    p = p.slice(4);
  }
  const prog = new Program();
  prog.gen(new Parser(p, icase).parse());
  prog.emit(MATCH);
  return { matches: (text) => run(prog, text) };
}

/**
 * One pass over the text with every thread in step. Threads are kept in order of their start (earliest first) and
 * one per instruction (the earliest start wins: two threads at one instruction have the same future). A new thread
 * starts at every position; the leftmost match is final, at its longest, once no thread that started at or before it
 * is alive.
 */
function run(prog: Program, text: string): Match[] {
  const size = prog.op.length;
  let cPc = new Int32Array(size);
  let cStart = new Int32Array(size);
  let nPc = new Int32Array(size);
  let nStart = new Int32Array(size);
  let cLen = 0;
  let nLen = 0;
  const seen = new Int32Array(size).fill(-1);
  const out: Match[] = [];
  // Matches found but not yet final: by start, the longest end so far (few at a time: bounded by MAX_MATCH).
  const pending = new Map<number, number>();
  let floor = 0;
  const stack: number[] = [];
  const n = text.length;

  const add = (pc0: number, start: number, pos: number, mark: number) => {
    stack.length = 0;
    stack.push(pc0);
    while (stack.length) {
      const pc = stack.pop()!;
      if (seen[pc] === mark) continue;
      seen[pc] = mark;
      switch (prog.op[pc]) {
        case JMP:
          stack.push(prog.x[pc]!);
          break;
        case SPLIT:
          // y after x: x is taken first (the order does not change leftmost-longest, only which thread is kept).
          stack.push(prog.y[pc]!, prog.x[pc]!);
          break;
        case ASSERT: {
          const k = prog.kind[pc];
          const ok = k === "^" ? pos === 0 : k === "$" ? pos === n
            : (pos > 0 && isWord(text.charCodeAt(pos - 1))) !== (pos < n && isWord(text.charCodeAt(pos)));
          if (ok) stack.push(pc + 1);
          break;
        }
        case MATCH:
          if (pos > start) pending.set(start, Math.max(pending.get(start) ?? 0, pos));
          break;
        default:
          nPc[nLen] = pc;
          nStart[nLen++] = start;
      }
    }
  };

  const settle = (alive: number) => {
    // Final: the earliest pending match when no thread that started at or before it is still alive.
    for (;;) {
      let first = Infinity;
      for (const s of pending.keys()) if (s < first) first = s;
      if (first === Infinity || alive <= first) return;
      const end = pending.get(first)!;
      out.push({ start: first, end, entity: "pattern" });
      floor = end;
      for (const s of [...pending.keys()]) if (s < end) pending.delete(s);
    }
  };

  let mark = 0;
  for (let pos = 0; pos <= n; pos++) {
    // Step: the threads of the previous position that take this character (nLen collects into n*).
    nLen = 0;
    mark++;
    if (pos > 0) {
      const c = text.charCodeAt(pos - 1);
      for (let k = 0; k < cLen; k++) {
        const pc = cPc[k]!;
        const start = cStart[k]!;
        if (start < floor || pos - start > MAX_MATCH) continue;
        if (prog.test[pc]!(c)) add(pc + 1, start, pos, mark);
      }
    }
    add(0, pos, pos, mark);
    const alive = nLen ? nStart[0]! : Infinity;
    settle(alive);
    [cPc, nPc] = [nPc, cPc];
    [cStart, nStart] = [nStart, cStart];
    cLen = nLen;
  }
  settle(Infinity);
  return out;
}
