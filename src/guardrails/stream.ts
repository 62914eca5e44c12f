/**
 * A candidate's text checked as a stream passes: each piece is scanned together with the text held back from the
 * pieces before it, and only a bounded tail waits for the next piece — the last `HOLD` characters, stretched back
 * to the start of a word that is still going (an email, a key) or of a match that reaches the end (it may still
 * grow), but never past `MAX_HOLD`. A match is acted on once it is followed by other text (or the candidate
 * finishes), so an entity split across events is found whole, and nothing of it has gone out before.
 */
import { applyRedactions, blockingHits, otherHits, type Hit, type Tally } from "./check";
import type { Policy } from "./policy";

/** Characters always held back while a candidate's text is going: longer than a spaced card number or IBAN. */
export const HOLD = 64;
/** The most ever held back (a long email, a JWT, a private key block being written). */
export const MAX_HOLD = 8192;

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

export class StreamText {
  /** Text not yet sent: redactions already applied. */
  private held = "";
  /** Offset in `held` before which every match has been acted on (and tallied). */
  private done = 0;
  /** Only flagging policies: the text goes out as it came, the scan just counts. */
  readonly passThrough: boolean;

  constructor(private readonly policies: readonly Policy[], private readonly tally: Tally) {
    this.passThrough = policies.every((p) => p.action === "flag");
  }

  /**
   * The text that may go out now for `piece`; `final` when the candidate finishes (everything held goes out).
   * `blocked`: a blocking policy matched; `text` is then what came before the match, still unsent.
   */
  feed(piece: string, final: boolean): { text: string; blocked?: Policy } {
    const text = this.held + piece;
    const n = text.length;
    // A match that reaches the end may still grow (`4111 1111` before `1111 1111`): acted on later, unless final.
    const settled = (h: Hit) => final || h.end < n;
    const block = blockingHits(text, this.policies);
    const firstBlock = block?.find(settled);
    let limit = final ? n : n - HOLD;
    if (firstBlock) {
      for (const h of block!) if (h.policy === firstBlock.policy) this.tally.add(h.policy, "output", h.entity);
      this.held = "";
      return { text: text.slice(0, firstBlock.start), blocked: firstBlock.policy };
    }
    // A blocking match still growing: nothing of it goes out yet.
    if (block?.length) limit = Math.min(limit, block[0]!.start);
    const acted: Hit[] = [];
    for (const h of otherHits(text, this.policies)) {
      if (h.start < this.done) continue;
      if (settled(h)) acted.push(h);
      else limit = Math.min(limit, h.start);
    }
    if (!final && limit > 0) limit = wordStart(text, limit, n);
    for (const h of acted) this.tally.add(h.policy, "output", h.entity);
    const redacted = this.passThrough ? text : applyRedactions(text, acted);
    // An offset of `text` in `redacted` (each placeholder replaces its match); one inside a match is its start.
    const moved = (at: number): number => {
      let s = at;
      for (const h of acted) {
        if (h.policy.action !== "redact" || this.passThrough) continue;
        if (h.end <= at) s += placeholderLength(h) - (h.end - h.start);
        else if (h.start < at) return moved(h.start);
        else break;
      }
      return s;
    };
    const cut = moved(Math.max(0, limit));
    const done = moved(acted.reduce((end, h) => Math.max(end, h.end), this.done));
    this.held = redacted.slice(cut);
    this.done = Math.max(0, done - cut);
    return { text: redacted.slice(0, cut) };
  }

  /** Whether text is held back. */
  get holding(): boolean {
    return this.held.length > 0;
  }
}

const placeholderLength = (h: Hit) => (h.entity === "pattern" ? "[REDACTED]".length : h.entity.length + 2);

/** `limit`, moved back to the start of the word it falls in when that word is still going at the end of the text. */
function wordStart(text: string, limit: number, n: number): number {
  // Only a word that runs to the end can still be an entity being written.
  let k = limit;
  while (k < n && !isSpace(text.charCodeAt(k))) k++;
  if (k < n) return limit;
  let s = limit;
  while (s > 0 && n - s < MAX_HOLD && !isSpace(text.charCodeAt(s - 1))) s--;
  return n - s >= MAX_HOLD ? limit : s;
}
