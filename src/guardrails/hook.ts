/**
 * Guardrails as a hook (src/hooks/hook.ts): the policies a key and its team name, run on the prompt before the
 * upstream (`beforeUpstream`: block answers the Gemini way with no upstream call, redact rewrites the body) and on
 * the answer as it passes (`onAnswer`: JSON answers whole, streams event by event with a bounded hold-back), and
 * what they did put on the usage row (`afterCall`). Per-call state lives against the request id until `afterCall`.
 */
import type { Candidate, Content, GenerateContentResponse, Part } from "../gemini/schema";
import type { BeforeUpstream, Hook, HookRequest, LastEvent } from "../hooks/hook";
import type { CallContext } from "../pipeline/context";
import type { GeminiJson } from "../providers/types";
import { keyOrTeamSets } from "../hooks/engages";
import type { CallRecord } from "../usage/row";
import { checkText, mapStrings, Tally } from "./check";
import { MAX_JUDGED_CHARS } from "./judge";
import { judged } from "./verdicts";
import type { Guardrails, Policy, Stage } from "./policy";
import { StreamText } from "./stream";
import { policyNames, resolve } from "./applies";
import { takeLiveTally } from "./live";

/** The header naming each policy that acted. */
export const GUARDRAILS_HEADER = "x-edgeway-guardrails";

/** The actions a guardrail checks: those whose body is a prompt and whose answer is a generateContent answer. */
const CHECKED = new Set(["generateContent", "streamGenerateContent"]);

interface CallState {
  output: Policy[];
  /** The output policies that scan text (all but the judges). */
  scanned: Policy[];
  /** Whether a judge reads the output. */
  judged: boolean;
  tally: Tally;
  /** The answer's headers (the hooks stage keeps this object): the header is added as policies act. */
  headers: Record<string, string>;
  /** A streamed answer's text, per candidate index. */
  slots?: Map<number, StreamText>;
  /** The answer's text gathered for the output judges, per candidate index (bounded). */
  judgedText?: Map<number, string>;
  /** The candidates the output judges have read to their end (a stream's that finished). */
  judgedDone?: Set<number>;
}

export function guardrailsHook(g: Guardrails): Hook {
  const calls = new Map<string, CallState>();

  return {
    name: "guardrails",

    // No policy named by the key, and none by its team as this isolate holds it: nothing to check.
    engages: (call) => CHECKED.has(call.action) && keyOrTeamSets(call, (r) => !!r.guardrails?.length),

    async beforeUpstream(call, request) {
      if (!CHECKED.has(call.action)) return;
      const names = await policyNames(call);
      if (!names.length) return;
      const policies = resolve(g, names);
      const input = policies.filter((p) => p.input);
      const output = policies.filter((p) => p.output);
      const scanned = output.filter((p) => !p.judge);
      const state: CallState = { output, scanned, judged: scanned.length < output.length, tally: new Tally(), headers: {} };
      calls.set(call.requestId, state);
      const r: BeforeUpstream = { headers: state.headers };
      if (input.length) {
        let checked = checkInput(request, input, state.tally);
        const judges = input.filter((p) => p.judge);
        if (!checked.blocked && judges.length) {
          // A judge spends money for the call: the call is admitted first (its slot and worst case reserved), so a
          // key that may not call the model does not get a judge call either.
          await call.admit();
          // The judges read the prompt as the model would get it (after the other policies' redactions).
          const verdict = await judged(call.config, judges, inputText(checked.body), "input", state.tally);
          if (verdict.blocked) checked = { body: checked.body, blocked: verdict.blocked };
          else if (verdict.redact) checked = { body: mapInput(checked.body, () => "[REDACTED]") };
        }
        if (state.tally.size) state.headers[GUARDRAILS_HEADER] = state.tally.header();
        if (checked.blocked) r.answer = blockedPrompt(checked.blocked);
        else if (checked.body !== request.body) r.body = checked.body;
      }
      return r;
    },

    // Synchronous unless a judge reads the answer: a stream event costs no promise of its own.
    onAnswer(call, answer) {
      const state = calls.get(call.requestId);
      if (!state?.output.length) return;
      const r = !state.scanned.length ? undefined : call.stream ? checkEvent(state, answer) : checkAnswer(state, answer);
      if (!state.judged) return named(call, state, r);
      return judgeAnswer(call, state, answer, r).then((j) => named(call, state, j));
    },

    // A stream that ended without finishing its candidates: the text held back goes out, checked as final, and the
    // output judges read the candidates no finishReason closed (otherwise such a stream would never be judged).
    onStreamEnd(call) {
      const state = calls.get(call.requestId);
      if (!state?.output.length) return;
      const held = state.scanned.length ? flushHeld(state) : undefined;
      if (!state.judged || (held && "end" in held)) return held;
      const pending = [...(state.judgedText?.keys() ?? [])].filter((i) => !state.judgedDone?.has(i));
      if (!pending.length) return held;
      const event = (held ?? { candidates: [] }) as GeminiJson;
      const candidates = [...(event.candidates ?? [])];
      for (const index of pending) if (!candidates.some((c) => c.index === index)) candidates.push({ index, content: { role: "model", parts: [] } });
      return judgeAnswer(call, state, { ...event, candidates } as GeminiJson, undefined, true).then((j) => j ?? held);
    },

    afterCall(row: CallRecord, call) {
      const state = calls.get(call.requestId);
      if (!state) {
        // A Live session's guard keeps its own tally (src/guardrails/live.ts).
        const live = takeLiveTally(call.requestId);
        if (live?.any) row.guardrails = live.list();
        if (live?.usd) row.cost_usd += live.usd;
        return;
      }
      calls.delete(call.requestId);
      if (state.tally.any) row.guardrails = state.tally.list();
      // The judges spent real money for this call: it is the call's cost (and settles against its key's budget).
      if (state.tally.usd) row.cost_usd += state.tally.usd;
    },
  };
}

/**
 * The answer as it goes; a JSON answer's header names every policy that acted on it too (its headers are read
 * after). A stream's header is left as `beforeUpstream` set it: its headers go out with the first event, while
 * later events are still unchecked, so it names only what acted on the prompt (output actions are on the row).
 */
function named<T>(call: CallContext, state: CallState, r: T): T {
  if (!call.stream && state.tally.size) state.headers[GUARDRAILS_HEADER] = state.tally.header();
  return r;
}

/** Each candidate's held text, checked as final: one more event, or `{ end }` when a blocking policy matched it. */
function flushHeld(state: CallState): GeminiJson | LastEvent | undefined {
  const candidates: Candidate[] = [];
  for (const [index, slot] of state.slots ?? []) {
    if (!slot.holding) continue;
    const r = slot.feed("", true);
    // A flag-only slot's text went out as it came: the end is only scanned.
    if (slot.passThrough) continue;
    if (r.blocked) {
      candidates.push(blockedCandidate({ index }, r.blocked, r.text ? [{ text: r.text }] : undefined));
      return { end: { candidates } as GeminiJson };
    }
    if (r.text) candidates.push({ index, content: { role: "model", parts: [{ text: r.text }] } });
  }
  return candidates.length ? ({ candidates } as GeminiJson) : undefined;
}

/** A blocked prompt, as Gemini answers one: promptFeedback and no candidates. */
function blockedPrompt(p: Policy): GeminiJson {
  return {
    promptFeedback: { blockReason: p.blockReason, blockReasonMessage: `The prompt was blocked by the gateway's guardrail policy "${p.name}".` },
    usageMetadata: { promptTokenCount: 0, totalTokenCount: 0 },
  };
}

/** Every text the model will read: contents' text parts, the system instruction, function calls' args and responses. */
function checkInput(request: HookRequest, policies: Policy[], tally: Tally): { body: HookRequest["body"]; blocked?: Policy } {
  const body = request.body as Record<string, unknown>;
  let blocked: Policy | undefined;
  const text = (s: string) => {
    if (blocked) return s;
    const r = checkText(s, policies, "input", tally);
    if (r.blocked) {
      blocked = r.blocked;
      return s;
    }
    return r.text;
  };
  const out = mapInput(request.body, text);
  return blocked ? { body: request.body, blocked } : { body: out };
}

/** Every text of a prompt the model reads, mapped; the same body when none changed. */
function mapInput(b: HookRequest["body"], fn: (s: string) => string): HookRequest["body"] {
  const body = b as Record<string, unknown>;
  const contents = mapContents(body.contents as Content[] | undefined, fn);
  const system = body.systemInstruction && mapContents([body.systemInstruction as Content], fn)[0];
  if (contents === body.contents && system === body.systemInstruction) return b;
  return { ...body, contents, ...(system ? { systemInstruction: system } : {}) } as HookRequest["body"];
}

/** A prompt's texts as one, bounded: what a judge reads (the start and the end of a long prompt). */
function inputText(body: HookRequest["body"]): string {
  const texts: string[] = [];
  let size = 0;
  mapInput(body, (s) => {
    if (size < 4 * MAX_JUDGED_CHARS) texts.push(s.length > MAX_JUDGED_CHARS ? s.slice(0, MAX_JUDGED_CHARS / 2) + s.slice(-MAX_JUDGED_CHARS / 2) : s);
    size += Math.min(s.length, MAX_JUDGED_CHARS);
    return s;
  });
  return texts.join("\n");
}

/**
 * The output judges on an answer (after the other policies): a JSON answer's text whole; a stream's, gathered as it
 * passes and judged when its candidate finishes (what went out before cannot be taken back: a block then ends the
 * stream with `PROHIBITED_CONTENT` instead of the finishing event).
 */
async function judgeAnswer(
  call: CallContext,
  state: CallState,
  original: GeminiJson,
  r: GeminiJson | LastEvent | undefined,
  /** The stream ended: every candidate in the answer is read to its end. */
  ending = false,
): Promise<GeminiJson | LastEvent | undefined> {
  if (r && "end" in r) return r;
  const answer = r ?? original;
  if (!answer.candidates?.length) return r;
  const judges = state.output.filter((p) => p.judge);
  const seen = (state.judgedText ??= new Map());
  const finished: Candidate[] = [];
  for (const [pos, cand] of answer.candidates.entries()) {
    const index = cand.index ?? pos;
    let text = seen.get(index) ?? "";
    for (const p of cand.content?.parts ?? []) if (typeof p.text === "string" && text.length < MAX_JUDGED_CHARS) text += p.text;
    seen.set(index, text.slice(0, MAX_JUDGED_CHARS));
    if (!call.stream || cand.finishReason || ending) {
      finished.push(cand);
      (state.judgedDone ??= new Set()).add(index);
    }
  }
  if (!finished.length) return r;
  let changed = false;
  const candidates = await Promise.all(answer.candidates.map(async (cand, pos) => {
    if (!finished.includes(cand)) return cand;
    const v = await judged(call.config, judges, seen.get(cand.index ?? pos) ?? "", "output", state.tally);
    if (v.blocked) {
      changed = true;
      return blockedCandidate(cand, v.blocked);
    }
    if (v.redact) {
      changed = true;
      return { ...cand, content: { role: "model", parts: [{ text: "[REDACTED]" }] } };
    }
    return cand;
  }));
  if (!changed) return r;
  const out = { ...answer, candidates } as GeminiJson;
  return call.stream && candidates.some((c) => c.finishReason === "PROHIBITED_CONTENT") ? { end: out } : out;
}

function mapContents(contents: Content[] | undefined, fn: (s: string) => string): Content[] {
  if (!Array.isArray(contents)) return contents as unknown as Content[];
  let copy: Content[] | undefined;
  contents.forEach((c, i) => {
    const parts = mapParts(c?.parts, fn);
    if (parts !== c?.parts) (copy ??= [...contents])[i] = { ...c, parts };
  });
  return copy ?? contents;
}

/** Text, function-call args and function responses; file and inline data parts cannot be read and are left alone. */
function mapParts(parts: Part[] | undefined, fn: (s: string) => string): Part[] {
  if (!Array.isArray(parts)) return parts as unknown as Part[];
  let copy: Part[] | undefined;
  parts.forEach((p, i) => {
    let q = p;
    if (typeof p?.text === "string") {
      const t = fn(p.text);
      if (t !== p.text) q = { ...p, text: t };
    }
    if (p?.functionCall?.args) {
      const args = mapStrings(p.functionCall.args, fn);
      if (args !== p.functionCall.args) q = { ...q, functionCall: { ...p.functionCall, args: args as Record<string, unknown> } };
    }
    if (p?.functionResponse?.response !== undefined) {
      const response = mapStrings(p.functionResponse.response, fn);
      if (response !== p.functionResponse.response) q = { ...q, functionResponse: { ...p.functionResponse, response } };
    }
    if (q !== p) (copy ??= [...parts])[i] = q;
  });
  return copy ?? parts;
}

/** A JSON answer: each candidate's text and function-call args, whole. A block replaces the candidate's content. */
function checkAnswer(state: CallState, answer: GeminiJson): GeminiJson | undefined {
  if (!answer.candidates?.length) return;
  let changed = false;
  const candidates = answer.candidates.map((cand) => {
    let blocked: Policy | undefined;
    const fn = (s: string) => {
      if (blocked) return s;
      const r = checkText(s, state.scanned, "output", state.tally);
      if (r.blocked) blocked = r.blocked;
      return r.text ?? s;
    };
    const parts = mapParts(cand.content?.parts, fn);
    if (blocked) {
      changed = true;
      return blockedCandidate(cand, blocked);
    }
    if (parts === cand.content?.parts || !cand.content) return cand;
    changed = true;
    return { ...cand, content: { ...cand.content, parts } };
  });
  return changed ? { ...answer, candidates } : undefined;
}

/** A candidate a policy blocked: its content dropped, the contract's finishReason. */
function blockedCandidate(cand: Candidate, p: Policy, kept?: Part[]): Candidate {
  const { content: _content, ...rest } = cand;
  return { ...rest, ...(kept?.length ? { content: { role: "model", parts: kept } } : {}), finishReason: p.finishReason };
}

/**
 * A stream event: each candidate's text through its slot's hold-back; function-call args whole. A block ends the
 * stream with the text before the match and the finishReason.
 */
function checkEvent(state: CallState, event: GeminiJson): GeminiJson | LastEvent | undefined {
  if (!event.candidates?.length) return;
  const slots = (state.slots ??= new Map());
  let changed = false;
  let blocked: Policy | undefined;
  const candidates = event.candidates.map((cand, pos) => {
    if (blocked) return cand;
    const index = cand.index ?? pos;
    let slot = slots.get(index);
    if (!slot) slots.set(index, (slot = new StreamText(state.scanned, state.tally)));
    const finishing = !!cand.finishReason;
    const parts = cand.content?.parts ?? [];
    let lastText = -1;
    for (let i = 0; i < parts.length; i++) if (typeof parts[i]!.text === "string") lastText = i;
    const out: Part[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p.text === "string") {
        const r = slot.feed(p.text, finishing && i === lastText);
        if (r.blocked) {
          blocked = r.blocked;
          if (r.text) out.push({ ...p, text: r.text });
          return blockedCandidate(cand, r.blocked, out);
        }
        out.push(slot.passThrough ? p : { ...p, text: r.text });
      } else if (p.functionCall?.args) {
        let hit: Policy | undefined;
        const args = mapStrings(p.functionCall.args, (s) => {
          if (hit) return s;
          const r = checkText(s, state.scanned, "output", state.tally);
          if (r.blocked) hit = r.blocked;
          return r.text ?? s;
        });
        if (hit) {
          blocked = hit;
          return blockedCandidate(cand, hit, out);
        }
        out.push(args === p.functionCall.args ? p : { ...p, functionCall: { ...p.functionCall, args: args as Record<string, unknown> } });
      } else out.push(p);
    }
    if (finishing && lastText < 0 && slot.holding) {
      const r = slot.feed("", true);
      if (r.blocked) {
        blocked = r.blocked;
        return blockedCandidate(cand, r.blocked, out);
      }
      // A flag-only slot's text went out as it came: what it held was only for the scan.
      if (r.text && !slot.passThrough) out.push({ text: r.text });
    }
    if (slot.passThrough && out.length === parts.length && out.every((p, i) => p === parts[i])) return cand;
    changed = true;
    // Text parts emptied by the hold-back go out as empty text, so the event keeps its shape.
    return { ...cand, content: { role: "model", ...cand.content, parts: out } };
  });
  if (blocked) {
    const last: GenerateContentResponse = { ...event, candidates };
    return { end: last as GeminiJson };
  }
  return changed ? ({ ...event, candidates } as GeminiJson) : undefined;
}
