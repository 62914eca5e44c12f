/**
 * Guardrails on Live sessions: the key's and its team's policies on the text of the session's frames, the way they
 * check a stream. Input: the setup's system instruction, `clientContent` turns (text, function calls' args, function
 * responses), `realtimeInput.text` and `toolResponse` function responses. Output: `serverContent.modelTurn` text,
 * `outputTranscription` text (each through its own bounded hold-back, flushed when the turn completes, is
 * interrupted, or the session ends) and `toolCall` function-call args (whole). Audio and video are not checked
 * (neither the client's nor the model's): only their transcriptions are, as text. A block closes the session with
 * `GUARDRAIL_CLOSE` and a reason naming the policy. Judges (`model` policies) read each client message's text
 * before it goes on (later frames wait behind it, as behind a file check) and the model's text of each turn when the
 * turn ends (its end waits for the verdict; what went out before it cannot be taken back).
 */
import type { CallScope } from "../pipeline/context";
import { checkText, mapStrings, Tally } from "./check";
import { policyNames, resolve } from "./applies";
import { MAX_JUDGED_CHARS, type JudgeConfig } from "./judge";
import { judged } from "./verdicts";
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
  const guard = new LiveGuard(policies.filter((p) => p.input), policies.filter((p) => p.output), scope.config);
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
  /** The policies that scan text (all but the judges), and the judges, per stage. */
  private readonly input: Policy[];
  private readonly output: Policy[];
  private readonly judgesIn: Policy[];
  private readonly judgesOut: Policy[];
  /** The model's text of the turn going on, for the output judges (bounded). */
  private turn = "";

  constructor(input: Policy[], output: Policy[], private readonly config: JudgeConfig) {
    this.input = input.filter((p) => !p.judge);
    this.output = output.filter((p) => !p.judge);
    this.judgesIn = input.filter((p) => p.judge);
    this.judgesOut = output.filter((p) => p.judge);
  }

  /** Whether client frames are read at all. */
  get checksInput(): boolean {
    return this.input.length > 0 || this.judgesIn.length > 0;
  }

  /** Whether the model's frames are read at all. */
  get checksOutput(): boolean {
    return this.output.length > 0 || this.judgesOut.length > 0;
  }

  /** Whether output judges read the model's turns (a frame that ends a turn is read even with nothing held). */
  get judgesOutput(): boolean {
    return this.judgesOut.length > 0;
  }

  /** Whether input judges read client text. */
  get judgesInput(): boolean {
    return this.judgesIn.length > 0;
  }

  /**
   * The input judges on a text (a client message's, the setup's system instruction): whether they block it, or ask
   * for it to be replaced (`redact`: every text of the message becomes `[REDACTED]`).
   */
  judgeInput(text: string): Promise<{ blocked?: Policy; redact?: boolean }> {
    if (!this.judgesIn.length || !text.trim()) return Promise.resolve({});
    return judged(this.config, this.judgesIn, text, "input", this.tally);
  }

  /** The output judges on the turn that just ended: whether one blocks it (what went out stays out). */
  async judgeTurn(text: string): Promise<Policy | undefined> {
    if (!this.judgesOut.length || !text.trim()) return undefined;
    return (await judged(this.config, this.judgesOut, text, "output", this.tally)).blocked;
  }

  /** The texts a client message gives the model, joined (bounded): what the input judges read. */
  clientText(msg: Obj): string {
    return joined((fn) => this.mapClient(msg, fn));
  }

  /** The setup's system instruction's text (bounded). */
  setupText(setup: Obj): string {
    return joined((fn) => mapFields(setup, ["systemInstruction"], (si) => mapContent(si, fn)));
  }

  /** A client message with every text the model reads replaced by `[REDACTED]` (an input judge's redaction). */
  redactClient(msg: Obj): Obj {
    return this.mapClient(msg, () => "[REDACTED]");
  }

  /** The setup with its system instruction's texts replaced by `[REDACTED]`. */
  redactSetup(setup: Obj): Obj {
    return mapFields(setup, ["systemInstruction"], (si) => mapContent(si, () => "[REDACTED]"));
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
    const out = this.mapClient(msg, this.textFn(this.input, "input", (p) => (blocked ??= p)));
    if (blocked) return { blocked };
    return out === msg ? {} : { msg: out };
  }

  /** Every text of a client message the model reads, mapped. */
  private mapClient(msg: Obj, fn: (s: string) => string): Obj {
    let out = mapFields(msg, ["clientContent"], (cc) => mapFields(cc, ["turns"], (turns) => mapArray(turns, (t) => mapContent(t, fn))));
    out = mapFields(out, ["realtimeInput"], (ri) => mapFields(ri, ["text"], (t) => (typeof t === "string" ? fn(t) : t)));
    return mapFields(out, ["toolResponse"], (tr) =>
      mapFields(tr, ["functionResponses"], (list) => mapArray(list, (fr) => mapFields(fr, ["response"], (r) => mapStrings(r, fn))))
    );
  }

  /**
   * A server message: the model's text and transcription through their hold-backs (all of it goes out when the
   * message ends the turn), its function calls' args whole. `flush`: the frames' held text, ahead of `msg`.
   */
  server(msg: Obj): Checked & { flush?: string; turn?: string } {
    let blocked: Policy | undefined;
    const sc = field(msg, "serverContent");
    const ending = isObj(sc) && (truthy(sc, "turnComplete") || truthy(sc, "generationComplete") || truthy(sc, "interrupted"));
    const judging = this.judgesOut.length > 0;
    const held = (slot: string) => (s: string) => {
      if (judging && slot === "model" && this.turn.length < MAX_JUDGED_CHARS) this.turn += s;
      if (!this.output.length) return s;
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
    // The turn ended: its text goes to the output judges (once).
    let turn: string | undefined;
    if (ending && judging && this.turn) {
      turn = this.turn.slice(0, MAX_JUDGED_CHARS);
      this.turn = "";
    }
    return { ...(out === msg ? {} : { msg: out }), ...(flush?.text ? { flush: flush.text } : {}), ...(turn ? { turn } : {}) };
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

/** The texts `map` visits, joined, at most `MAX_JUDGED_CHARS` in all (the judge reads the start and end of longer). */
function joined(map: (fn: (s: string) => string) => unknown): string {
  const texts: string[] = [];
  let size = 0;
  map((s) => {
    if (size < 4 * MAX_JUDGED_CHARS) texts.push(s.length > MAX_JUDGED_CHARS ? s.slice(0, MAX_JUDGED_CHARS / 2) + s.slice(-MAX_JUDGED_CHARS / 2) : s);
    size += Math.min(s.length, MAX_JUDGED_CHARS);
    return s;
  });
  return texts.join("\n");
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
