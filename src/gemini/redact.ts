/**
 * Redaction of secrets (provider keys, the admin token) from text that leaves the gateway: error messages, stream
 * error events, usage rows. An upstream may echo a key in any spelling, so the text is searched after decoding JSON
 * escapes (`\uXXXX`, `\n`, `\"` …) and URL `%XX` escapes (twice over, for double encoding), ignoring ASCII case,
 * and any run of `MIN_RUN` or more characters of a secret counts as the secret; so do its base64 forms
 * (`base64Forms`) and its hex form (`hexForm`, either case). The rest of the text is left exactly as it was.
 *
 * A text that arrives in pieces (a stream's answer) is redacted as a whole by `TextStreamRedactor`: each piece is
 * searched together with what came before it, and only a short tail that could begin a secret waits for the next.
 */

export const REDACTED = "[redacted]";

/**
 * The shortest run of a secret's characters that is redacted on its own. A shorter secret must appear whole, as a
 * word of its own (not inside a longer run of letters and digits).
 */
export const MIN_RUN = 12;

/** How many decoding passes: `%255C` → `%5C` → `\`, `\\u0073` → `\u0073` → `s`. */
const PASSES = 3;

export type Redactor = (text: string) => string;

/**
 * A redactor for a fixed set of secrets, built once (per isolate, or per credential pool): each secret's runs are
 * indexed so a text is scanned once per secret, in time linear in its length (times `MIN_RUN`).
 */
export function redactor(secrets: readonly (string | undefined)[]): Redactor {
  const index = indexOf(secrets);
  if (!index.length) return (text) => text;
  return (text) => redactWith(text, index);
}

/** Every form of every secret, one index per run length (so a text is scanned once per length, not per secret). */
function indexOf(secrets: readonly (string | undefined)[]): RunIndex[] {
  const given = [...new Set(secrets)].filter((s): s is string => !!s);
  const forms = [...new Set([...given, ...given.flatMap(base64Forms), ...given.flatMap(hexForm)])];
  const byRun = new Map<string, RunIndex>();
  for (const f of forms) {
    const one = runIndex(f);
    const key = `${one.run}:${one.whole}`;
    const into = byRun.get(key);
    if (!into) byRun.set(key, one);
    else {
      for (const r of one.runs) into.runs.add(r);
      for (const h of one.hashes) into.hashes.add(h);
      for (let c = 0; c < 65_536; c++) if (one.chars[c]) into.chars[c] = 1;
    }
  }
  return [...byRun.values()];
}

/**
 * A secret as hex carries it (an upstream dumping the bytes it was sent): two digits a byte, so the secret's
 * characters are always a whole run of the text. Case-folded like the rest: upper-case hex is found too.
 */
function hexForm(secret: string): string[] {
  let hex = "";
  for (const b of new TextEncoder().encode(secret)) hex += b.toString(16).padStart(2, "0");
  return hex.length >= MIN_RUN ? [hex] : [];
}

/** One-off form of `redactor`. */
export const redact = (text: string, secrets: readonly (string | undefined)[]): string => redactor(secrets)(text);

/**
 * A secret as base64 carries it (an upstream echoing a Basic credential, `user:key`, or a token that wraps it):
 * the encoding's characters that depend on the secret's bytes alone, for each of the three byte offsets the secret
 * may start at within the encoded data, in both alphabets (standard and URL-safe). Each is then one more secret:
 * any MIN_RUN of its characters are redacted. (Case-folded like the others: a few more texts match, none fewer.)
 */
function base64Forms(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    let binary = "\0".repeat(offset);
    for (const b of bytes) binary += String.fromCharCode(b);
    const b64 = btoa(binary);
    // Base64 character i holds bits [6i, 6i + 6) of the data; the secret's bits are [8 offset, 8 (offset + n)).
    const core = b64.slice(Math.ceil((4 * offset) / 3), Math.floor((4 * (offset + bytes.length)) / 3));
    if (core.length < MIN_RUN) continue;
    forms.push(core);
    const urlSafe = core.replace(/\+/g, "-").replace(/\//g, "_");
    if (urlSafe !== core) forms.push(urlSafe);
  }
  return forms;
}

interface RunIndex {
  run: number;
  /** Every `run`-long slice of the case-folded secret. */
  runs: Set<string>;
  /** A secret shorter than MIN_RUN: matched whole, and only between non-word characters. */
  whole: boolean;
  /**
   * 1 for each UTF-16 code unit some run holds: a window with any other unit in it cannot match, so most text (words
   * and spaces) is passed over without slicing a window at all.
   */
  chars: Uint8Array;
  /** The rolling hash (`rollHash`) of every run: a window is sliced and looked up only when its hash is one of these. */
  hashes: Set<number>;
  /** HASH_BASE ** (run - 1), as the rolling hash wraps it: what the unit leaving a window weighs. */
  top: number;
}

// A polynomial rolling hash over a window of code units, wrapping at 32 bits: one multiply and add a step, so a long
// run of characters that secrets hold (a hostile upstream's "AAAA…") costs no string per position.
const HASH_BASE = 0x01000193;
const rollHash = (s: string) => {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, HASH_BASE) + s.charCodeAt(i)) | 0;
  return h;
};

/** ASCII letters and digits (NaN, off either end of the text, is not). */
const isWordChar = (c: number) => (c >= 48 && c <= 57) || (c >= 97 && c <= 122);

function runIndex(secret: string): RunIndex {
  const s = foldCase(secret);
  const run = Math.min(MIN_RUN, s.length);
  const runs = new Set<string>();
  for (let j = 0; j + run <= s.length; j++) runs.add(s.slice(j, j + run));
  const chars = new Uint8Array(65_536);
  for (let j = 0; j < s.length; j++) chars[s.charCodeAt(j)] = 1;
  let top = 1;
  for (let j = 1; j < run; j++) top = Math.imul(top, HASH_BASE);
  return { run, runs, whole: s.length < MIN_RUN, chars, hashes: new Set([...runs].map(rollHash)), top };
}

function redactWith(text: string, index: readonly RunIndex[]): string {
  const d = decode(text);
  return redactFrom(text, 0, index, d, foldCase(d.text)).out;
}

/**
 * `text` from `base` on, with every span of a secret in it redacted: spans are found in the whole text (so a secret
 * that began before `base` is still seen), and the part of one before `base` is left alone (it has gone out).
 * `lastEnd`: where the last redacted span ends in `text` (0: none).
 */
function redactFrom(text: string, base: number, index: readonly RunIndex[], d: Decoded, lower: string): { out: string; lastEnd: number } {
  // Windows wholly before `base` were searched with the earlier pieces (only without escapes is that cheap to know).
  const from = d.start ? 0 : Math.max(0, base - MIN_RUN);
  // Matched spans of the decoded text, [start, end). A longer piece of a secret is the union of its runs, so
  // looking up each run-long window is enough (and never more than linear work).
  const spans: [number, number][] = [];
  for (const { run, runs, whole, chars, hashes, top } of index) {
    // `streak`: how many code units up to `j` some run holds; `h`: the rolling hash of the last min(streak, run) of
    // them. Only a window of `run` such units whose hash is a run's is sliced and looked up.
    for (let j = from, streak = 0, h = 0; j < lower.length; j++) {
      const c = lower.charCodeAt(j);
      if (!chars[c]) {
        streak = 0;
        h = 0;
        continue;
      }
      if (streak >= run) h = (h - Math.imul(lower.charCodeAt(j - run), top)) | 0;
      h = (Math.imul(h, HASH_BASE) + c) | 0;
      if (++streak < run || !hashes.has(h)) continue;
      const i = j + 1 - run;
      if (!runs.has(lower.slice(i, i + run))) continue;
      // A short secret counts only as a word of its own: "k" is not to be found in "network".
      if (whole && (isWordChar(lower.charCodeAt(i - 1)) || isWordChar(lower.charCodeAt(i + run)))) continue;
      spans.push([i, i + run]);
    }
  }
  if (!spans.length) return { out: base ? text.slice(base) : text, lastEnd: 0 };
  // Back to the original text: each decoded character knows the span of source text it came from.
  spans.sort((a, b) => a[0] - b[0]);
  let out = "";
  let cursor = base;
  let cur: [number, number] | undefined;
  const put = ([s, e]: [number, number]) => {
    if (e <= base) return;
    out += text.slice(cursor, Math.max(s, base)) + REDACTED;
    cursor = e;
  };
  for (const [s, e] of spans) {
    const start = startOf(d, s);
    const end = endOf(d, e - 1);
    if (cur && start <= cur[1]) {
      cur[1] = Math.max(cur[1], end);
      continue;
    }
    if (cur) put(cur);
    cur = [start, end];
  }
  put(cur!);
  return { out: out + text.slice(Math.max(cursor, base)), lastEnd: cur![1] };
}

/**
 * The shortest tail that is held back for the next piece: a tail of 1–3 characters of a secret goes out at once
 * (most text ends in a character some key, hex or base64 form holds, and holding it would rewrite nearly every
 * event). So at most 3 characters of a secret split across pieces go out before the rest of it is redacted.
 */
export const MIN_HELD = 4;
/** The most of the text already sent that is kept to search the next piece with: MIN_RUN - 1 characters, escaped. */
const CONTEXT_CHARS = 128;

/**
 * Redacts a text that arrives in pieces (one stream's answer, per candidate) as if it were one text: what a piece
 * can safely send goes at once; a tail of `MIN_HELD` to `MIN_RUN - 1` characters that could begin a secret (a
 * substring of one of its forms) waits for the next piece, and `flush` gives it up at the end. Each piece is searched
 * together with the last characters already sent, so a secret that began in them is redacted from there on.
 */
export class TextStreamRedactor {
  private readonly slots = new Map<number, { sent: string; held: string; redactedToEnd: boolean }>();

  constructor(
    private readonly index: readonly RunIndex[],
    /** The case-folded forms of the secrets that are MIN_RUN or longer: a tail that is a substring of one is held. */
    private readonly forms: readonly string[],
    /** Every MIN_HELD-long substring of those forms: a tail whose first characters are none of these is not. */
    private readonly grams: ReadonlySet<string>,
  ) {}

  /** What of `piece` (the next text of stream `slot`) goes out now. */
  text(slot: number, piece: string): string {
    const st = this.slots.get(slot) ?? { sent: "", held: "", redactedToEnd: false };
    this.slots.set(slot, st);
    const text = st.sent + st.held + piece;
    const base = st.sent.length;
    const d = decode(text);
    // The decoded text, case-folded once for both the search and the hold-back.
    const lower = foldCase(d.text);
    let { out, lastEnd } = redactFrom(text, base, this.index, d, lower);
    const hold = Math.max(this.holdFrom(d, lower, text.length), lastEnd, base);
    const kept = text.length - hold;
    // A secret redacted up to the end of the last piece and on into this one is one secret: one marker.
    if (st.redactedToEnd && out.startsWith(REDACTED)) out = out.slice(REDACTED.length);
    if (hold > base) st.redactedToEnd = lastEnd === hold;
    st.held = text.slice(hold);
    st.sent = text.slice(Math.max(0, hold - CONTEXT_CHARS), hold);
    return kept ? out.slice(0, out.length - kept) : out;
  }

  /** The tail `slot` still holds (at the end of its stream): it began no secret after all. */
  flush(slot: number): string {
    const st = this.slots.get(slot);
    if (!st) return "";
    const held = st.held;
    st.held = "";
    st.sent = (st.sent + held).slice(-CONTEXT_CHARS);
    return held;
  }

  /** Every slot still holding a tail. */
  holding(): number[] {
    return [...this.slots].filter(([, st]) => st.held).map(([slot]) => slot);
  }

  /** Where in the source text the longest decoded tail that could begin a secret starts (its length if none). */
  private holdFrom(d: Decoded, lower: string, length: number): number {
    for (let k = Math.min(MIN_RUN - 1, lower.length); k >= MIN_HELD; k--) {
      const at = lower.length - k;
      if (!this.grams.has(lower.slice(at, at + MIN_HELD))) continue;
      const tail = lower.slice(at);
      if (this.forms.some((f) => f.includes(tail))) return startOf(d, at);
    }
    return length;
  }
}

/** Builds `TextStreamRedactor`s for one set of secrets: the index is made once, each stream gets its own state. */
export function textStreamRedactor(secrets: readonly (string | undefined)[]): (() => TextStreamRedactor) | undefined {
  const index = indexOf(secrets);
  if (!index.length) return undefined;
  const given = [...new Set(secrets)].filter((s): s is string => !!s);
  // A secret shorter than MIN_RUN is matched only whole, as a word: nothing of it is held.
  const forms = [...new Set([...given, ...given.flatMap(base64Forms), ...given.flatMap(hexForm)].map(foldCase))].filter((f) => f.length >= MIN_RUN);
  const grams = new Set<string>();
  for (const f of forms) for (let j = 0; j + MIN_HELD <= f.length; j++) grams.add(f.slice(j, j + MIN_HELD));
  return () => new TextStreamRedactor(index, forms, grams);
}

/** Lower-cases ASCII letters only, so every index of the result is the same character of the input. */
function foldCase(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

interface Decoded {
  text: string;
  /** For each character of `text`, where its source starts and ends in the original text; none when unchanged. */
  start?: number[];
  end?: number[];
}

const startOf = (d: Decoded, i: number) => (d.start ? d.start[i]! : i);
const endOf = (d: Decoded, i: number) => (d.end ? d.end[i]! : i + 1);

function decode(text: string): Decoded {
  let d: Decoded = { text };
  // The common case, nothing encoded: the text maps onto itself without a table.
  if (!text.includes("\\") && !text.includes("%")) return d;
  for (let p = 0; p < PASSES; p++) {
    const next = decodeOnce(d);
    if (next.text.length === d.text.length) break;
    d = next;
  }
  return d;
}

const HEX = /^[0-9a-fA-F]+$/;
const JSON_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** One pass of JSON escapes (`\uXXXX`, `\n`, `\"` …) and `%XX` (ASCII only) decoding, keeping the source spans. */
function decodeOnce(src: Decoded): Decoded {
  const s = src.text;
  const out = { text: "", start: [] as number[], end: [] as number[] };
  const chars: string[] = [];
  for (let i = 0; i < s.length; ) {
    let len = 1;
    let ch = s[i]!;
    if (ch === "\\" && s[i + 1] === "u" && i + 6 <= s.length && HEX.test(s.slice(i + 2, i + 6))) {
      ch = String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
      len = 6;
    } else if (ch === "\\" && i + 1 < s.length && JSON_ESCAPES[s[i + 1]!] !== undefined) {
      // A secret holding newlines or quotes (a PEM key, a key file) is escaped inside a JSON body.
      ch = JSON_ESCAPES[s[i + 1]!]!;
      len = 2;
    } else if (ch === "%" && i + 3 <= s.length && HEX.test(s.slice(i + 1, i + 3)) && parseInt(s.slice(i + 1, i + 3), 16) < 0x80) {
      ch = String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      len = 3;
    }
    chars.push(ch);
    out.start.push(startOf(src, i));
    out.end.push(endOf(src, i + len - 1));
    i += len;
  }
  // A decoded escape for a character outside the BMP half is still one UTF-16 unit: lengths stay aligned.
  out.text = chars.join("");
  return out;
}
