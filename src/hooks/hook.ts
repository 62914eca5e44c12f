/**
 * Hooks: what the response cache, guardrails and telemetry plug into, so that none of them is an edit to the
 * pipeline (docs/architecture.md, "Hooks"). A hook is a plain object of optional functions; the list is configured
 * once per isolate (src/hooks/registry.ts) and a call with none configured pays one length check for them.
 *
 *  - `beforeUpstream(call, request)`: a model action's, once its body is valid and its targets are planned, before
 *    the first upstream attempt. It may return `{ body }` (the request the upstream gets instead: a redaction), or
 *    answer the call itself: `{ answer }` (a Gemini JSON answer; for a streamed call, its one event), `{ events }`
 *    (a streamed call's events, replayed as SSE), or `{ error }` (a Gemini error, answered as any other); and
 *    `headers` for the answer. The first hook that answers ends the round: later hooks' `beforeUpstream` do not
 *    run, and no upstream is called.
 *  - `onAnswer(call, answer)`: each JSON answer, and each event of a stream as it passes (after the gateway's own
 *    redaction of secrets, so no hook ever sees one). Returns the answer to send instead (a copy: never change one
 *    in place, it may go out as the upstream's own bytes), nothing to send it as it is, or `{ end: event }` to end
 *    a stream with that event (a guardrail's block: the upstream is cancelled, the row charges what was used so
 *    far). Hooks see the answer in reverse order of the list (the last to see the request is the first to see the
 *    answer), and a hook's own answer from `beforeUpstream` passes the same way.
 *  - `onStreamEnd(call)`: a stream's upstream ended (or broke) without every candidate finishing: a hook that held
 *    text back returns one more event to send (checked, as its `onAnswer` would), or `{ end: event }`; it passes
 *    the hooks after it in the answer's order, as any event does.
 *  - `afterCall(row, call)`: every call's finished usage row — model actions, resources, Live sessions — just
 *    before it is handed to the usage log (a refusal's too, though only its count is kept). A hook may add its own
 *    fields to the row there, and add what it spent for the call (a guardrail's judge) to `cost_usd`: the call
 *    settles its admission after the hooks, with that cost; a promise it returns is kept alive with waitUntil, its failure logged.
 *
 * Engaged hooks: a hook takes part in a model action's answer only when it engages with the call. One whose
 * `engages(call)` says no is skipped. One with `beforeUpstream` engages when that returns something (headers, a
 * body, an answer); one that returns nothing (no policy applies) is done with the call, and its `onAnswer` is not
 * called. One without `beforeUpstream` engages every call. A call no hook engages takes the plain path, as if none were configured (no answer tap, no hooked respond).
 *
 * Pairing (as Bifrost's plugin contract guarantees): `afterCall` runs exactly once for every call that is recorded,
 * which is every call whose key is known — success, upstream failure, a client gone mid-stream, an error thrown in
 * the pipeline or in a hook — so every hook whose `beforeUpstream` ran gets its `afterCall`. Per-call state is kept
 * against `call.requestId` (the row's `request_id`) and dropped in `afterCall`, which is sure to come.
 *
 * A hook that throws fails the call, closed rather than open (a guardrail that broke must not let text through): a
 * `beforeUpstream` or a JSON `onAnswer` that throws is answered as a 500 error; a stream event's is the stream's last
 * event, an error, and the upstream is cancelled. The row is written either way, and every hook's `afterCall` still
 * runs: one that throws is logged and stops neither the others nor the row.
 *
 * What an answer from `beforeUpstream` records: nothing was used upstream, so the row has zero tokens and zero cost
 * and settles nothing against tpm or a budget (a cache hit's `afterCall` then shows the original's tokens on the row;
 * they are not counted); the answer took a request slot (the primary must be allowed for the
 * key, and admission is asked for the slot alone: no tokens or cost reserved), so it counts toward rpm. Its provider and model are the
 * primary target's (what the answer stands for), `fallback_index` 0, no attempts (`x-edgeway-attempts: 0`), status
 * 200 and outcome `ok` (a stream ended by the client: `aborted`). An `{ error }` answer records as the error it is
 * (a 401/402/403/429 before any upstream call counts as a refusal, like the gateway's own).
 */
import type { GatewayError } from "../gemini/errors";
import type { GenerateContentResponse } from "../gemini/schema";
import type { CallContext, CallScope } from "../pipeline/context";
import type { Target } from "../lib/target";
import type { GeminiJson, ProviderCall } from "../providers/types";
import type { CallRecord } from "../usage/row";

/** The upstream request as a `beforeUpstream` hook sees it. */
export interface HookRequest {
  /** The validated Gemini body, the gateway's own fields (`fallbacks`) removed. */
  readonly body: ProviderCall["body"];
  /** The planned targets, primary first. */
  readonly targets: readonly Target[];
  /** The client's request headers (a cache's `x-edgeway-cache`, a trace's `traceparent`). */
  readonly headers: Headers;
  /** `body`'s canonical JSON (src/lib/canonical-json.ts), computed once when first asked (a body sent before keeps its own). */
  canonical(): string;
}

/**
 * What a `beforeUpstream` hook decided; nothing (undefined) lets the call go on unchanged. One of `error`, `answer`,
 * `events` or `body` (the first set, in that order, counts); `headers` may come with any of them, or alone.
 */
export interface BeforeUpstream {
  /** The call's answer: a Gemini error (a 503 for a policy that does not parse). */
  error?: GatewayError;
  /** The call's answer: a Gemini JSON answer (a blocked prompt's `promptFeedback`, a cache hit). */
  answer?: GeminiJson;
  /** `answer`'s JSON text, when the hook holds it (a cache hit): sent as it is, not serialised again. */
  raw?: string;
  /** A streamed call's answer, event by event (a cache hit replayed). */
  events?: readonly GenerateContentResponse[];
  /** The request the upstream gets instead (a redaction). */
  body?: ProviderCall["body"];
  /** Headers for the call's answer (a cache's `x-edgeway-cache`); the gateway's own headers are not replaced. */
  headers?: Record<string, string>;
}

/** What an `onAnswer` hook may return besides the answer: a stream event to end the stream with. */
export interface LastEvent {
  /** The stream's last event: it goes out (past the other hooks), then the upstream is cancelled. */
  end: GeminiJson;
}

type Maybe<T> = T | undefined | void;

export interface Hook {
  /** Names the hook in logs and in the error of a call it failed. */
  name: string;
  /**
   * A cheap test, from what the call already holds, of whether the hook may have anything to do with a model action
   * (a cache with no policy anywhere near the key has none); false skips its `beforeUpstream` and `onAnswer` for the
   * call. Without it the hook is asked every call.
   */
  engages?(call: CallContext): boolean;
  beforeUpstream?(call: CallContext, request: HookRequest): Maybe<BeforeUpstream> | Promise<Maybe<BeforeUpstream>>;
  onAnswer?(call: CallContext, answer: GeminiJson): Maybe<GeminiJson | LastEvent> | Promise<Maybe<GeminiJson | LastEvent>>;
  onStreamEnd?(call: CallContext): Maybe<GeminiJson | LastEvent> | Promise<Maybe<GeminiJson | LastEvent>>;
  afterCall?(row: CallRecord, call: CallScope): unknown;
}
