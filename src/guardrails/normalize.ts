/**
 * Text as the scanners read it: look-alike digits (fullwidth, Arabic-Indic, Devanagari, Bengali, mathematical …)
 * read as ASCII digits, and invisible characters (zero-width spaces and joiners, the word joiner, the byte-order mark,
 * the soft hyphen) are dropped, so `4‌1​1１…` is the card number it looks like. A match in the normalised text maps
 * back to the span of the original it came from, which is what a redaction replaces.
 *
 * Most text has none of these characters: it is scanned as it is, with no copy and no map. Otherwise the map is
 * sparse (one entry per character dropped or shortened), so memory stays proportional to the text plus the oddities.
 */

/** The ASCII digit a look-alike stands for, or -1. Ranges of ten consecutive code points, each starting at 0. */
const DIGIT_BLOCKS = [
  0x0660, 0x06f0, 0x07c0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66, 0x0ce6, 0x0d66, 0x0de6, 0x0e50,
  0x0ed0, 0x0f20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50,
  0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
];

function digitOf(c: number): number {
  if (c < 0x0660) return -1;
  for (const b of DIGIT_BLOCKS) if (c >= b && c < b + 10) return c - b;
  return -1;
}

/** Mathematical alphanumeric digits U+1D7CE–U+1D7FF (five styles of 0–9): the digit, from the surrogate pair. */
function mathDigit(hi: number, lo: number): number {
  if (hi !== 0xd835 || lo < 0xdfce || lo > 0xdfff) return -1;
  return (lo - 0xdfce) % 10;
}

/** Characters that render as nothing and split a number or a key for a naive scanner. */
const isInvisible = (c: number) =>
  c === 0x00ad || (c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064) || c === 0xfeff || c === 0x180e;

/** Whether `c` (a UTF-16 unit) may need normalising; everything below U+00AD never does. */
const suspect = (c: number) => c >= 0x00ad && (isInvisible(c) || digitOf(c) >= 0 || c === 0xd835);

export interface Normalized {
  /** What the scanners read. */
  text: string;
  /** The offset in the original text of normalised offset `i` (for `i` in 0..text.length). */
  original(i: number): number;
}

const identity = (i: number) => i;

export function normalize(text: string): Normalized {
  let first = -1;
  for (let i = 0; i < text.length; i++) {
    if (suspect(text.charCodeAt(i))) {
      first = i;
      break;
    }
  }
  if (first < 0) return { text, original: identity };
  // Breakpoints: from normalised offset at[k] on, original = normalised + shift[k].
  const at: number[] = [];
  const shift: number[] = [];
  const out: string[] = [text.slice(0, first)];
  let n = first;
  let removed = 0;
  let runStart = first;
  for (let i = first; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!suspect(c)) continue;
    let digit = -1;
    let width = 1;
    if (isInvisible(c)) width = 1;
    else if (c === 0xd835) {
      digit = mathDigit(c, text.charCodeAt(i + 1));
      if (digit < 0) continue;
      width = 2;
    } else digit = digitOf(c);
    out.push(text.slice(runStart, i));
    n += i - runStart;
    if (digit >= 0) {
      out.push(String.fromCharCode(48 + digit));
      n += 1;
      removed += width - 1;
    } else removed += width;
    runStart = i + width;
    if (width > 1 || digit < 0) {
      at.push(n);
      shift.push(removed);
    }
    i += width - 1;
  }
  out.push(text.slice(runStart));
  const normalized = out.join("");
  return {
    text: normalized,
    original(i) {
      // The last breakpoint at or before i (binary search).
      let lo = 0;
      let hi = at.length - 1;
      let s = 0;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (at[mid]! <= i) {
          s = shift[mid]!;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return i + s;
    },
  };
}
