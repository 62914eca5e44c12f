/**
 * Guardrails on Live sessions: the key's and its team's policies on the text of the session's frames, the way they
 * check a stream. Input: the setup's system instruction, `clientContent` turns (text, function calls' args, function
 * responses), `realtimeInput.text` and `toolResponse` function responses. Output: `serverContent.modelTurn` text,
 * `outputTranscription` text (each through its own bounded hold-back, flushed when the turn completes, is
 * interrupted, or the session ends) and `toolCall` function-call args (whole). Audio and video are not checked
 * (neither the client's nor the model's): only their transcriptions are, as text. A block closes the session with
 * `GUARDRAIL_CLOSE` and a reason naming the policy. A `model` (judge) policy cannot check a session as it runs:
 * a session of a key that names one on Live is refused (never silently unchecked).
 */
import { GatewayError } from "../gemini/errors";
import type { CallScope } from "../pipeline/context";
import { checkText, mapStrings, Tally } from "./check";
import { policyNames, resolve } from "./applies";
import type { Policy, Stage } from "./policy";
import { StreamText } from "./stream";

/** The close code of a session a guardrail blocked (4000 + 451: no gateway refusal answers HTTP 451). */
export const GUARDRAIL_CLOSE = 4451;

/** What each session's guard tallied, for its row (read and dropped by the guardrails hook's `afterCall`). */
const tallies = new Map<string, Tally>();

/** The session's tally for its row, once. */
export function takeLiveTally(requestId: string): Tally | undefined {
  const t = tallies.get(requestId);
  if (t) tallies.delete(requestId);
  return t;
}

/** A frame the guard changed (re-serialized), or a policy that blocks it. */
export type Checked = { msg?: Record<string, unknown>; blocked?: Policy };

/** The session's guard, or undefined when guardrails are off or the key and its team name no policy. */
export async function liveGuard(scope: CallScope): Promise<LiveGuard | undefined> {
  const g = scope.config.guardrails;
  if (!g) return undefined;
  const names = await policyNames(scope);
  if (!names.length) return undefined;
  const policies = resolve(g, names);
  const judge = policies.find((p) => p.judge);
  if (judge) throw new GatewayError(503, `guardrail policy "${judge.name}" is a judge model, which cannot check a Live session`);
  const guard = new LiveGuard(policies.filter((p) => p.input), policies.filter((p) => p.output));
  tallies.set(scope.requestId, guard.tally);
  return guard;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
/** A field in either spelling the Live API reads (`clientContent` or `client_content`). */
const SPELLINGS = (camel: string) => {
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return snake === camel ? [camel] : [camel, snake];
};

export class LiveGuard {
  readonly tally = new Tally();
  /** The model's text and its speech's transcription, each held back as a stream's candidate is. */
  private readonly slots = new Map<string, StreamText>();

  constructor(private readonly input: Policy[], private readonly output: Policy[]) {}

  /** Whether a client frame's text may need the input policies (a cheap test before it is parsed). */
  get checksInput(): boolean {
    return this.input.length > 0;
  }

  get checksOutput(): boolean {
    return this.output.length > 0;
  }

  /** Whether output text is held back (a frame that ends a turn must be read to flush it). */
  get holding(): boolean {
    for (const s of this.slots.values()) if (s.holding) return true;
    return false;
  }

  /** The setup's system instruction: its text parts, redacted or blocked. */
  setup(setup: Obj): Checked {
    if (!this.input.length) return {};
    let blocked: Policy | undefined;
    const fn = this.textFn(this.input, "input", (p) => (blocked ??= p));
    const out = mapFields(setup, ["systemInstruction"], (si) => mapContent(si, fn));
    if (blocked) return { blocked };
    return out === setup ? {} : { msg: out };
  }

  /** A client message: what the model will read of it. */
  client(msg: Obj): Checked {
    let blocked: Policy | undefined;
    const fn = this.textFn(this.input, "input", (p) => (blocked ??= p));
    let out = mapFields(msg, ["clientContent"], (cc) => mapFields(cc, ["turns"], (turns) => mapArray(turns, (t) => mapContent(t, fn))));
    out = mapFields(out, ["realtimeInput"], (ri) => mapFields(ri, ["text"], (t) => (typeof t === "string" ? fn(t) : t)));
    out = mapFields(out, ["toolResponse"], (tr) =>
      mapFields(tr, ["functionResponses"], (list) => mapArray(list, (fr) => mapFields(fr, ["response"], (r) => mapStrings(r, fn))))
    );
    if (blocked) return { blocked };
    return out === msg ? {} : { msg: out };
  }

  /**
   * A server message: the model's text and transcription through their hold-backs (all of it goes out when the
   * message ends the turn), its function calls' args whole. `flush`: the frames' held text, ahead of `msg`.
   */
  server(msg: Obj): Checked & { flush?: string } {
    let blocked: Policy | undefined;
    const sc = field(msg, "serverContent");
    const ending = isObj(sc) && (truthy(sc, "turnComplete") || truthy(sc, "generationComplete") || truthy(sc, "interrupted"));
    const held = (slot: string) => (s: string) => {
      if (blocked) return s;
      const st = this.slot(slot);
      const r = st.feed(s, false);
      if (r.blocked) blocked = r.blocked;
      // Flag-only: the text goes out as it came (what the slot holds is only for the scan).
      return st.passThrough ? s : r.text;
    };
    let out = mapFields(msg, ["serverContent"], (c) =>
      mapFields(mapFields(c, ["modelTurn"], (t) => mapContent(t, held("model"), true)), ["outputTranscription"], (t) =>
        mapFields(t, ["text"], (s) => (typeof s === "string" ? held("transcription")(s) : s))
      )
    );
    const whole = this.textFn(this.output, "output", (p) => (blocked ??= p));
    out = mapFields(out, ["toolCall"], (tc) =>
      mapFields(tc, ["functionCalls"], (list) => mapArray(list, (fc) => mapFields(fc, ["args"], (a) => mapStrings(a, whole))))
    );
    if (blocked) return { blocked };
    const flush = ending ? this.flush() : undefined;
    if (flush?.blocked) return { blocked: flush.blocked };
    return { ...(out === msg ? {} : { msg: out }), ...(flush?.text ? { flush: flush.text } : {}) };
  }

  /**
   * What is still held, checked as the end of its text: one server message to send (the model's text and the
   * transcription), or the policy that blocks it.
   */
  flush(): { text?: string; blocked?: Policy } {
    const model = this.slots.get("model");
    const transcription = this.slots.get("transcription");
    const end = (slot: StreamText | undefined): { text?: string; blocked?: Policy } | undefined => {
      if (!slot?.holding) return undefined;
      const r = slot.feed("", true);
      return slot.passThrough ? {} : r;
    };
    const m = end(model);
    if (m?.blocked) return { blocked: m.blocked };
    const t = end(transcription);
    if (t?.blocked) return { blocked: t.blocked };
    if (!m?.text && !t?.text) return {};
    const serverContent: Obj = {};
    if (m?.text) serverContent.modelTurn = { parts: [{ text: m.text }] };
    if (t?.text) serverContent.outputTranscription = { text: t.text };
    return { text: JSON.stringify({ serverContent }) };
  }

  private slot(name: string): StreamText {
    let s = this.slots.get(name);
    if (!s) this.slots.set(name, (s = new StreamText(this.output.filter((p) => !p.judge), this.tally)));
    return s;
  }

  private textFn(policies: Policy[], stage: Stage, block: (p: Policy) => void): (s: string) => string {
    let stopped = false;
    return (s) => {
      if (stopped || !policies.length) return s;
      const r = checkText(s, policies, stage, this.tally);
      if (r.blocked) {
        stopped = true;
        block(r.blocked);
        return s;
      }
      return r.text;
    };
  }
}

/** The reason a blocked session closes with: the Gemini block reason, then the policy. */
export function blockedReason(p: Policy, stage: Stage): string {
  const why = stage === "input" ? p.blockReason : p.finishReason;
  return `${why}: the ${stage} was blocked by guardrail policy "${p.name}"`;
}

const field = (o: Obj, camel: string) => {
  for (const k of SPELLINGS(camel)) if (Object.hasOwn(o, k)) return o[k];
  return undefined;
};
const truthy = (o: Obj, camel: string) => !!field(o, camel);

/** `o` with each spelling of the fields mapped by `fn`; the same object when none changed. */
function mapFields(o: unknown, camels: string[], fn: (v: unknown) => unknown): Obj {
  if (!isObj(o)) return o as Obj;
  let copy: Obj | undefined;
  for (const camel of camels) {
    for (const k of SPELLINGS(camel)) {
      if (!Object.hasOwn(o, k)) continue;
      const v = o[k];
      const w = fn(v);
      if (w !== v) (copy ??= { ...o })[k] = w;
    }
  }
  return copy ?? o;
}

function mapArray(list: unknown, fn: (v: unknown) => unknown): unknown {
  if (!Array.isArray(list)) return list;
  let copy: unknown[] | undefined;
  list.forEach((v, i) => {
    const w = fn(v);
    if (w !== v) (copy ??= [...list])[i] = w;
  });
  return copy ?? list;
}

/**
 * A Content's parts: text, function calls' args, function responses (file and inline data are left alone).
 * `textOnly`: the model's turn, whose text goes through a hold-back (its function calls come as `toolCall`).
 */
function mapContent(content: unknown, fn: (s: string) => string, textOnly = false): unknown {
  return mapFields(content, ["parts"], (parts) =>
    mapArray(parts, (p) => {
      let q = mapFields(p, ["text"], (t) => (typeof t === "string" ? fn(t) : t));
      if (textOnly) return q;
      q = mapFields(q, ["functionCall"], (fc) => mapFields(fc, ["args"], (a) => mapStrings(a, fn)));
      return mapFields(q, ["functionResponse"], (fr) => mapFields(fr, ["response"], (r) => mapStrings(r, fn)));
    })
  );
}
