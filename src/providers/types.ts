/**
 * The one interface every provider implements. The pipeline never branches on a provider's name: it asks the
 * adapter for an upstream Request, fetches it (with retries/fallbacks around it), and hands the answer back to
 * the adapter to translate into Gemini shape. Adapters are pure translators and know nothing of each other.
 */
import type { Action, GenerateContentResponse, RequestBody, UsageMetadata } from "../gemini/schema";
import type { GatewayError } from "../gemini/errors";
import type { SseEvent } from "../streaming/sse";

export interface ProviderCall {
  action: Action;
  /** The provider's own model name (the part after `provider/`). */
  model: string;
  /** The validated Gemini body with the gateway's own fields removed. */
  body: RequestBody;
  /** `v1beta` or `v1`, as the caller asked. */
  version: string;
}

/** A Gemini-shaped JSON answer for any action (generateContent, countTokens, embeddings, predict). */
export type GeminiJson = GenerateContentResponse & Record<string, unknown>;

/** Per-stream state machine: upstream SSE event → zero or more Gemini stream chunks. */
export interface StreamTranslator {
  event(e: SseEvent): GenerateContentResponse[];
  /** Called once when the upstream stream ends; may flush held state (e.g. a last tool call). */
  end(): GenerateContentResponse[];
  /** Usage reported so far, before the last chunk (what a stream cut short is charged). */
  usage?(): UsageMetadata | undefined;
}

/** A model a provider offers, as the models list shows it. */
export interface ModelInfo {
  id: string;
  displayName: string;
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  actions: readonly Action[];
}

export interface Provider {
  readonly name: string;
  /** The models this provider lists (a request may still name any model the upstream knows). */
  readonly models: readonly ModelInfo[];
  /** The actions this provider can serve; anything else is a 400 naming the provider and action. */
  readonly actions: ReadonlySet<Action>;
  /** Whether the provider is usable (e.g. its key is configured). Unconfigured providers are hidden from lists. */
  readonly configured: boolean;
  /**
   * An answer the adapter can give without calling upstream (e.g. a token estimate where the provider has no
   * count endpoint). Returning undefined means: call upstream.
   */
  local?(call: ProviderCall): GeminiJson | undefined;
  /** Builds the upstream request. Throws a 400 GatewayError for input this provider cannot take. */
  request(call: ProviderCall): Request;
  /** Translates a 2xx upstream JSON body into the Gemini answer for the action. Throws on a malformed body. */
  response(call: ProviderCall, upstream: unknown): GeminiJson;
  /** Translates an upstream error (non-2xx) into a Gemini error carrying the upstream's HTTP status. */
  error(status: number, bodyText: string): GatewayError;
  /** A fresh translator for one streamed answer. */
  stream(call: ProviderCall): StreamTranslator;
  /** The transport; defaults to the global fetch. The built-in mock answers in-process. */
  fetch?(request: Request): Promise<Response>;
  /** The Live API (a WebSocket session), for providers that serve it; absent: Live sessions are refused. */
  live?(version: string): LiveUpstream;
}

/** How to open one Live session upstream. */
export interface LiveUpstream {
  /** The WebSocket upgrade request, with the provider's credential in a header (never in the URL). */
  request: Request;
  /** Text from the upstream (an error body, a close reason) with the credential removed. */
  redact(text: string): string;
  /**
   * A secret unique to the credential the session uses: resumption handles are sealed with it (src/live/resumption.ts),
   * so a handle resumes only under the credential, and the key, that earned it.
   */
  handleSecret: string;
}
