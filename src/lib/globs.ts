/**
 * Allow-list globs: `*` matches any run of characters (`gemini-*`, `openai/*`, `*`); everything else is literal.
 * Matched in time linear in the glob and the value, without regular expressions (whose backtracking made a
 * many-star glob against a long model cost seconds): the literal pieces between stars are found left to right,
 * each at its earliest place (always right for `*`-only globs), with a KMP search that never re-reads the value.
 */

interface Compiled {
  /** The literal pieces between stars; a glob with no star has one piece, matched exactly. */
  pieces: string[];
  /** KMP failure table of each inner piece (every piece but the first and the last). */
  fail: Int32Array[];
}

/** Counts the matcher's character comparisons and table steps (for tests of linearity); none in normal use. */
interface Counter {
  steps: number;
}

const cache = new Map<string, Compiled>();

function compile(glob: string, n?: Counter): Compiled {
  const pieces = glob.split("*");
  const fail = pieces.slice(1, -1).map((p) => failureTable(p, n));
  return { pieces, fail };
}

function compiled(glob: string): Compiled {
  let c = cache.get(glob);
  if (!c) {
    c = compile(glob);
    // Globs come from key records: a bounded, slowly changing set. Clearing beats tracking use.
    if (cache.size > 1000) cache.clear();
    cache.set(glob, c);
  }
  return c;
}

/** fail[i]: the length of the longest proper prefix of p[0..i] that is also its suffix. */
function failureTable(p: string, n?: Counter): Int32Array {
  const fail = new Int32Array(p.length);
  for (let i = 1, k = 0; i < p.length; i++) {
    while (k > 0 && p.charCodeAt(i) !== p.charCodeAt(k)) {
      k = fail[k - 1]!;
      if (n) n.steps++;
    }
    if (p.charCodeAt(i) === p.charCodeAt(k)) k++;
    fail[i] = k;
    if (n) n.steps++;
  }
  return fail;
}

/** The first index >= from where `p` occurs wholly before `end`, or -1. KMP: at most 2 × (end − from) steps. */
function find(v: string, p: string, fail: Int32Array, from: number, end: number, n?: Counter): number {
  if (!p.length) return from;
  for (let i = from, k = 0; i < end; i++) {
    while (k > 0 && v.charCodeAt(i) !== p.charCodeAt(k)) {
      k = fail[k - 1]!;
      if (n) n.steps++;
    }
    if (n) n.steps++;
    if (v.charCodeAt(i) === p.charCodeAt(k) && ++k === p.length) return i - p.length + 1;
  }
  return -1;
}

/** Whether `v` holds `p` at `at`, comparing character by character. */
function holdsAt(v: string, p: string, at: number, n?: Counter): boolean {
  for (let i = 0; i < p.length; i++) {
    if (n) n.steps++;
    if (v.charCodeAt(at + i) !== p.charCodeAt(i)) return false;
  }
  return true;
}

function match(c: Compiled, value: string, n?: Counter): boolean {
  const { pieces, fail } = c;
  const first = pieces[0]!;
  if (pieces.length === 1) return value.length === first.length && holdsAt(value, first, 0, n);
  const last = pieces[pieces.length - 1]!;
  // The first piece anchors the start, the last the end; they may not overlap.
  const end = value.length - last.length;
  if (end < first.length || !holdsAt(value, first, 0, n) || !holdsAt(value, last, end, n)) return false;
  let pos = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const at = find(value, pieces[i]!, fail[i - 1]!, pos, end, n);
    if (at < 0) return false;
    pos = at + pieces[i]!.length;
  }
  return true;
}

export const matchesGlob = (glob: string, value: string): boolean => match(compiled(glob), value);
export const matchesAny = (globs: readonly string[], value: string): boolean => globs.some((g) => matchesGlob(g, value));

/** The matcher, counting its steps (compiling the glob included): what tests use to show it is linear. */
export function globMatchSteps(glob: string, value: string): { match: boolean; steps: number } {
  const n: Counter = { steps: 0 };
  return { match: match(compile(glob, n), value, n), steps: n.steps };
}
