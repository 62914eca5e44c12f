/**
 * The response cache as a hook (src/hooks/hook.ts; README, "Response cache"):
 *  - `beforeUpstream`: the call's policy (src/cache/policy.ts; none: nothing more is done for the call), the
 *    request's controls, then the entry: a hit answers the call (a JSON answer, or a stream's events replayed);
 *    else the call goes on as a miss, to be stored.
 *  - `onAnswer`: a miss's answer (each event of a stream, as it passes: nothing is held back from the client) is
 *    kept, until it is seen to be too large or not a whole answer.
 *  - `afterCall`: the row says how the call ended and what it cost: a whole successful answer is written with the
 *    original's tokens and cost; a hit's row gains the original's tokens and `saved_usd` (its cost stays 0).
 * Per-call state is kept against the request id and dropped in `afterCall`, which every call gets.
 */
import type { GenerateContentResponse } from "../gemini/schema";
import type { Hook } from "../hooks/hook";
import type { GeminiJson } from "../providers/types";
import { keyOrTeamSets } from "../hooks/engages";
import { jsonOf } from "../streaming/sse";
import { EntryKey } from "./entry-key";
import { activePolicy } from "./policy";
import { MAX_ENTRY_BYTES, readEntry, writeEntry, type Entry } from "./store";

/** The actions whose answers are cached (countTokens is cheaper to ask than to store). */
const CACHED_ACTIONS = new Set(["generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", "predict"]);
/** Finish reasons of a whole answer; any other (SAFETY, RECITATION, a guardrail's SPII, …) is not stored. */
const WHOLE = new Set(["STOP", "MAX_TOKENS"]);

type Mode = "hit" | "miss" | "bypass";

interface CallState {
  mode: Mode;
  /** A hit's entry. */
  hit?: Entry;
  /** A miss to store: its entry key and TTL, and the answer as it passed. */
  key?: EntryKey;
  ttl?: number;
  answer?: GeminiJson;
  /** A stream's events as JSON texts, and their length so far. */
  texts?: string[];
  size?: number;
  /** A generation's answer said it is whole (a candidate finished with STOP or MAX_TOKENS). */
  finished?: boolean;
  /** Not to be stored: too large, blocked, or cut. */
  spoiled?: boolean;
}

const calls = new Map<string, CallState>();

const header = (mode: Mode) => ({ "x-edgeway-cache": mode });

export const responseCache: Hook = {
  name: "response-cache",

  // No policy on the key, and none on its team as this isolate holds it: nothing to do (most calls, most of the time).
  engages: (call) => keyOrTeamSets(call, (r) => !!r.cache),

  async beforeUpstream(call, request) {
    const policy = await activePolicy(call.env, call.gate.record, !!call.usesResources);
    if (!policy) return;
    const control = request.headers.get("x-edgeway-cache")?.trim().toLowerCase();
    const ttl = Math.min(policy.ttl, lowerTtl(request.headers.get("x-edgeway-cache-ttl")) ?? policy.ttl);
    if (!CACHED_ACTIONS.has(call.action) || control === "no-store" || ttl <= 0) {
      calls.set(call.requestId, { mode: "bypass" });
      return { headers: header("bypass") };
    }
    const key = new EntryKey(policy.scope, call.action, request.targets, request.canonical());
    if (control !== "refresh") {
      const now = Date.now();
      // A store that fails is a miss, not a failed call.
      const hit = await readEntry(key, ttl, now).catch((e) => void console.error(`response cache: read failed: ${String(e)}`));
      if (hit && hit.kind === (call.stream ? "events" : "answer")) {
        // Parsed once per entry, by its first hit from this isolate's memory. The kind decides what it is (an
        // answer an upstream sent as an array stays an answer).
        const parsed = (hit.parsed ??= JSON.parse(hit.text)) as unknown;
        const events = hit.kind === "events" ? (parsed as GenerateContentResponse[]) : undefined;
        if (!events || events.length) {
          calls.set(call.requestId, { mode: "hit", hit });
          const headers = { ...header("hit"), age: String(Math.max(0, Math.floor((now - hit.at) / 1000))) };
          return events ? { events, headers } : { answer: parsed as GeminiJson, raw: hit.text, headers };
        }
      }
    }
    calls.set(call.requestId, { mode: "miss", key, ttl, ...(call.stream ? { texts: [], size: 0 } : {}) });
    return { headers: header("miss") };
  },

  onAnswer(call, answer) {
    const s = calls.get(call.requestId);
    if (!s || s.mode !== "miss" || s.spoiled) return;
    if (!whole(call.action, answer, s)) {
      s.spoiled = true;
      s.answer = undefined;
      s.texts = undefined;
      return;
    }
    if (!s.texts) {
      s.answer = answer;
      return;
    }
    const text = jsonOf(answer);
    s.size! += text.length + 1;
    if (s.size! > MAX_ENTRY_BYTES) {
      s.spoiled = true;
      s.texts = undefined;
      return;
    }
    s.texts.push(text);
  },

  afterCall(row, call) {
    const s = calls.get(call.requestId);
    if (!s) return;
    calls.delete(call.requestId);
    if (s.mode === "hit") {
      // A hit that was refused (the model left the key's allow-list) served nothing from the cache.
      if (row.outcome === "error") return;
      row.cache = "hit";
      row.tokens = { ...s.hit!.tokens };
      row.saved_usd = s.hit!.cost_usd;
      return;
    }
    row.cache = s.mode;
    if (s.mode !== "miss" || s.spoiled || row.outcome !== "ok" || row.status !== 200 || !row.attempts.length) return;
    if (isGeneration(call.action) && !s.finished) return;
    const stored = { at: Date.now(), tokens: { ...row.tokens }, cost_usd: row.cost_usd };
    if (s.texts) {
      if (!s.texts.length) return;
      return writeEntry(s.key!, s.ttl!, { kind: "events", text: `[${s.texts.join(",")}]`, ...stored });
    }
    if (!s.answer) return;
    return writeEntry(s.key!, s.ttl!, { kind: "answer", text: JSON.stringify(s.answer), ...stored });
  },
};

const isGeneration = (action: string) => action === "generateContent" || action === "streamGenerateContent";

/**
 * Whether an answer (or a stream's event) may be part of a whole one: no error, no blocked prompt, no candidate that
 * finished for any reason but STOP or MAX_TOKENS. Marks a generation finished when one says so.
 */
function whole(action: string, a: GeminiJson, s: CallState): boolean {
  const r = a as GenerateContentResponse & { error?: unknown; promptFeedback?: { blockReason?: string } };
  if (r.error !== undefined || r.promptFeedback?.blockReason) return false;
  if (!isGeneration(action)) return true;
  for (const c of r.candidates ?? []) {
    if (!c.finishReason) continue;
    if (!WHOLE.has(c.finishReason)) return false;
    s.finished = true;
  }
  return true;
}

/** `x-edgeway-cache-ttl`: whole seconds, 0 or more; anything else is ignored. */
function lowerTtl(v: string | null): number | undefined {
  if (v === null || !/^\s*\d{1,10}\s*$/.test(v)) return undefined;
  return Number(v);
}
