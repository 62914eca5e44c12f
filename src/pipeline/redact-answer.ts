/**
 * Secrets taken out of an answer's text (docs/routes.md, "Credentials"): an upstream that knows its key, or a model led to
 * repeat one, may put it in the answer, whole, hex-encoded or cut into pieces across stream events. Each candidate's
 * text (its text and thought parts, in order, across every chunk of a stream) is redacted as one text with the
 * call's secrets (src/gemini/redact.ts `TextStreamRedactor`). A chunk with nothing to change goes out as it came
 * (the upstream's own bytes); only a short tail that could begin a secret waits for the next chunk.
 */
import type { Candidate, GenerateContentResponse, Part } from "../gemini/schema";
import { textStreamRedactor, type TextStreamRedactor } from "../gemini/redact";
import { editable } from "../streaming/sse";

/** One redactor factory per set of secrets (a pool's array is the same every call): its index is built once. */
const factories = new WeakMap<readonly string[], (() => TextStreamRedactor) | undefined>();

/** The redaction of one answer's text, or undefined when the call has no secret to take out. */
export function answerRedactor(secrets: readonly string[]): AnswerRedactor | undefined {
  // No secret (a hook's answer, a keyless upstream): nothing to build, and no fresh array kept as a WeakMap key.
  if (!secrets.length) return undefined;
  let make = factories.get(secrets);
  if (!factories.has(secrets)) factories.set(secrets, (make = textStreamRedactor(secrets)));
  return make && new AnswerRedactor(make());
}

export class AnswerRedactor {
  constructor(private readonly text: TextStreamRedactor) {}

  /**
   * The chunk as it may go out: itself when no text of it changed, else an edited copy. A candidate that finishes
   * here (or every one, when `last`: a whole answer) gets back the tail it held.
   */
  chunk(c: GenerateContentResponse, last = false): GenerateContentResponse {
    if (!c.candidates?.length) return c;
    let changed = false;
    const candidates = c.candidates.map((cand, pos) => {
      const out = this.candidate(cand, cand.index ?? pos, last || !!cand.finishReason);
      if (out !== cand) changed = true;
      return out;
    });
    if (!changed) return c;
    const copy = editable(c);
    copy.candidates = candidates;
    return copy;
  }

  /** A last chunk with the tails still held, for a stream that ended without finishing its candidates. */
  tail(): GenerateContentResponse | undefined {
    const slots = this.text.holding();
    if (!slots.length) return undefined;
    return { candidates: slots.map((index) => ({ index, content: { role: "model", parts: [{ text: this.text.flush(index) }] } })) };
  }

  private candidate(cand: Candidate, slot: number, finishing: boolean): Candidate {
    const parts = cand.content?.parts;
    let edited: Part[] | undefined;
    let lastText = -1;
    for (let i = 0; i < (parts?.length ?? 0); i++) {
      const p = parts![i]!;
      if (typeof p.text !== "string") continue;
      lastText = i;
      const t = this.text.text(slot, p.text);
      if (t !== p.text) (edited ??= [...parts!])[i] = { ...p, text: t };
    }
    const held = finishing ? this.text.flush(slot) : "";
    if (held) {
      edited ??= [...(parts ?? [])];
      if (lastText >= 0) edited[lastText] = { ...edited[lastText]!, text: `${edited[lastText]!.text as string}${held}` };
      else edited.push({ text: held });
    }
    if (!edited) return cand;
    return { ...cand, content: { role: "model", ...cand.content, parts: edited } };
  }
}
