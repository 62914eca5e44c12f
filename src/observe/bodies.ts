/**
 * Bodies for debugging (docs/observability.md, "Bodies"): with the LOG_BUCKET binding, the request and the answer
 * of each model action of a key or team with `log_bodies: true` are stored, redacted, under the call's request id.
 *
 * Two hooks (src/hooks/hook.ts) share one per-call state, placed so that each sees what left the gateway:
 *  - `bodiesAnswer`, first in the list: it decides whether the call is logged (`beforeUpstream`), sees each answer
 *    or stream event last (`onAnswer`: after the gateway's secret redaction and the guardrails'), and writes the
 *    body once the call is over (`afterCall`, in waitUntil: never on the call's path);
 *  - `bodiesRequest`, right after the guardrails: the request as the upstream (or the cache) gets it, a guardrail's
 *    redaction applied. A prompt a guardrail blocked never reaches it and is not stored.
 * A stream is assembled as its events pass (text parts joined per candidate), never held back from the client, and
 * stops growing once it passes MAX_BODY_BYTES. A call whose key and team do not set `log_bodies` is not engaged
 * (`engages`: a look at the key's record and the isolate's copy of its team): it pays nothing per answer or event.
 */
import type { Candidate, Part } from "../gemini/schema";
import { TeamStore } from "../governance/team-store";
import { keyOrTeamSets } from "../hooks/engages";
import type { Hook } from "../hooks/hook";
import type { CallContext, CallScope } from "../pipeline/context";
import type { GeminiJson } from "../providers/types";
import type { CallRecord } from "../usage/row";
import { describeError } from "../lib/describe-error";
import { MAX_BODY_BYTES, putBody, type StoredBody } from "./body-store";
import { capturedRedactor } from "./captured";

interface CallState {
  request?: unknown;
  /** A JSON answer as it went out. */
  answer?: GeminiJson;
  /** A stream's answer, assembled. */
  assembled?: Assembled;
}

const calls = new Map<string, CallState>();

export const bodiesAnswer: Hook = {
  name: "log-bodies",

  // Neither the key nor its team (as this isolate holds it) sets log_bodies: the call is none of this hook's business.
  engages: (call) => keyOrTeamSets(call, (r) => !!r.log_bodies),

  // Something returned (an empty decision) keeps the hook engaged, so that it sees the answer.
  async beforeUpstream(call) {
    if (!(await logsBodies(call))) return;
    calls.set(call.requestId, call.stream ? { assembled: new Assembled() } : {});
    return {};
  },

  onAnswer(call, answer) {
    const s = calls.get(call.requestId);
    if (!s) return;
    if (s.assembled) s.assembled.add(answer);
    else s.answer = answer;
  },

  afterCall(row, call) {
    const s = calls.get(call.requestId);
    if (!s) return;
    calls.delete(call.requestId);
    const bucket = call.env.LOG_BUCKET;
    if (!bucket) return;
    // Built and redacted in the promise waitUntil keeps, after a turn of the event loop: a JSON answer's row is
    // recorded before its Response is handed back, and its body goes out first.
    return new Promise((r) => setTimeout(r, 0)).then(async () => {
      try {
        const body = storedBody(row, call, s);
        await putBody(bucket, body, JSON.stringify(body));
      } catch (e) {
        console.error(`log bodies: ${row.request_id} not stored: ${call.config.redact(describeError(e))}`);
      }
    });
  },
};

export const bodiesRequest: Hook = {
  name: "log-bodies-request",

  engages: (call) => calls.has(call.requestId),

  beforeUpstream(call, request) {
    const s = calls.get(call.requestId);
    if (!s) return;
    s.request = request.body;
    return {};
  },
};

/** Whether the key, or its team, sets `log_bodies` (a direct call has no key to set it). */
async function logsBodies(call: CallContext): Promise<boolean> {
  const key = call.gate.record;
  if (key.log_bodies) return true;
  if (!key.team_id || call.direct) return false;
  return !!(await new TeamStore(call.env.VIRTUAL_KEYS).cachedGet(key.team_id))?.log_bodies;
}

/** One part of the body as stored: its JSON text redacted, then bounded. */
function part(value: unknown, call: CallScope): { value: unknown; truncated?: true } {
  if (value === undefined) return { value: null };
  const text = JSON.stringify(value);
  // A direct call stores no body (its key record is a stand-in without log_bodies), so no caller's own key is at hand.
  const clean = capturedRedactor(call.config.redact)(text);
  if (clean.length <= MAX_BODY_BYTES && new TextEncoder().encode(clean).length <= MAX_BODY_BYTES) {
    if (clean === text) return { value };
    try {
      return { value: JSON.parse(clean) };
    } catch {
      // A redaction that took a quote or an escape with it: the text as it is.
      return { value: clean };
    }
  }
  // Cut as bytes, then decoded without the split character at the end.
  const bytes = new TextEncoder().encode(clean).subarray(0, MAX_BODY_BYTES);
  return { value: new TextDecoder().decode(bytes).replace(/\uFFFD$/, ""), truncated: true };
}

function storedBody(row: CallRecord, call: CallScope, s: CallState): StoredBody {
  const request = part(s.request, call);
  const answer = part(s.assembled ? s.assembled.answer() : s.answer, call);
  return {
    request_id: row.request_id,
    at: new Date(row.ts).toISOString(),
    key_id: row.key_id,
    team_id: row.team_id,
    action: row.action,
    model: row.provider ? `${row.provider}/${row.model}` : row.requested_model,
    stream: row.stream,
    status: row.status,
    outcome: row.outcome,
    ...(row.error ? { error: row.error } : {}),
    request: request.value,
    ...(request.truncated ? { request_truncated: true as const } : {}),
    answer: answer.value,
    ...(answer.truncated || s.assembled?.truncated ? { answer_truncated: true as const } : {}),
    ...(s.assembled ? { events: s.assembled.events } : {}),
    ...(s.request === undefined && row.guardrails?.some((g) => g.action === "block" && g.stage === "input")
      ? { note: "the prompt was blocked by a guardrail and is not stored" }
      : {}),
  };
}

/**
 * A stream's events as one answer, as the SDKs assemble them: per candidate, consecutive text parts of the same kind
 * (thought or not) joined, other parts appended; the last finish reason, safety ratings, usage and the like win.
 * Grows to about MAX_BODY_BYTES of text and parts, then only counts events and keeps the last metadata.
 */
export class Assembled {
  events = 0;
  truncated = false;
  private size = 0;
  private readonly top: Record<string, unknown> = {};
  private readonly candidates = new Map<number, { fields: Record<string, unknown>; parts: Part[] }>();

  add(event: GeminiJson): void {
    this.events++;
    for (const [k, v] of Object.entries(event)) if (k !== "candidates") this.top[k] = v;
    (event.candidates ?? []).forEach((c: Candidate, pos) => this.candidate(c, c.index ?? pos));
  }

  private candidate(c: Candidate, index: number): void {
    let slot = this.candidates.get(index);
    if (!slot) this.candidates.set(index, (slot = { fields: {}, parts: [] }));
    for (const [k, v] of Object.entries(c)) if (k !== "content") slot.fields[k] = v;
    if (c.content?.role) slot.fields.role = c.content.role;
    for (const p of c.content?.parts ?? []) {
      if (this.truncated) return;
      const size = typeof p.text === "string" ? p.text.length : JSON.stringify(p).length;
      if (this.size + size > MAX_BODY_BYTES) {
        this.truncated = true;
        return;
      }
      this.size += size;
      const last = slot.parts[slot.parts.length - 1];
      if (typeof p.text === "string" && last && typeof last.text === "string" && !!last.thought === !!p.thought && Object.keys(p).every((k) => k === "text" || k === "thought")) {
        slot.parts[slot.parts.length - 1] = { ...last, text: last.text + p.text };
      } else slot.parts.push({ ...p });
    }
  }

  answer(): GeminiJson {
    const candidates = [...this.candidates].sort(([a], [b]) => a - b).map(([index, { fields, parts }]) => {
      const { role, ...rest } = fields;
      return { ...rest, index, content: { role: (role as string) ?? "model", parts } } as Candidate;
    });
    return { ...(candidates.length ? { candidates } : {}), ...this.top } as GeminiJson;
  }
}
