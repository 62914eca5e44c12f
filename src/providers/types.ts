/**
 * The one interface every provider implements. The pipeline never branches on a provider's name: it asks the
 * provider's credential pool for a credential, asks the adapter to prepare the upstream request with it (token
 * minting and signing are the adapter's), fetches it (with retries/fallbacks around it), and hands the answer back to
 * the adapter to translate into Gemini shape — JSON through `response`, streams through the adapter's own `decode`.
 * A wire format's translators live with the provider that defines it (openai/, anthropic/, gemini/), and a backend
 * that speaks another's format imports them from there: Azure and Workers AI OpenAI's, Vertex Gemini's and
 * Anthropic's, Bedrock Anthropic's thinking budget, the mock Gemini's whole adapter over its own transport. Imports
 * go one way only, from a backend to a format's owner, never back; wiring (credentials, URLs, signing) is each
 * backend's own. A stream translator yields into the respond stage's loop (src/streaming/translate.ts).
 */
import type { Action, GenerateContentResponse, RequestBody, UsageMetadata } from "../gemini/schema";
import type { GatewayError } from "../gemini/errors";
import type { Credential, CredentialPool } from "./credentials/pool";
import type { DecodedStream } from "../streaming/translate";

export type { Credential } from "./credentials/pool";
export type { DecodedStream, StreamTranslator } from "../streaming/translate";

/**
 * What `prepare` builds: a POST's address, headers and body. The pipeline makes the one Request from it, with the
 * attempt's signal and `redirect: "manual"` (a Request made here and again with those would be built twice per call).
 */
export interface UpstreamRequest {
  url: string;
  headers: HeadersInit;
  body: BodyInit;
}

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

export type StreamDecoder = (body: ReadableStream<Uint8Array>, call: ProviderCall, onBytes: () => void) => DecodedStream;

/** A model a provider offers, as the models list shows it. */
export interface ModelInfo {
  id: string;
  displayName: string;
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  actions: readonly Action[];
}

/** What a chat model serves through the gateway. */
export const CHAT_ACTIONS: readonly Action[] = ["generateContent", "streamGenerateContent", "countTokens"];

/**
 * Thrown by `prepare` when the credential itself failed before any model call: a token endpoint refused it
 * (`refused`: cooled down like a 401, another credential is tried) or could not be reached (`unreachable`: a
 * transient failure, retried like a network error).
 */
export class CredentialFailure extends Error {
  constructor(message: string, readonly kind: "refused" | "unreachable") {
    super(message);
  }
}

export interface Provider<M = unknown> {
  readonly name: string;
  /** The models this provider lists (a request may still name any model the upstream knows). */
  readonly models: readonly ModelInfo[];
  /** The actions this provider can serve; anything else is a 400 naming the provider and action. */
  readonly actions: ReadonlySet<Action>;
  /** Whether the provider is usable (a credential, a binding). Unconfigured providers are hidden from lists. */
  readonly configured: boolean;
  /** The credentials the gateway holds for this provider (a keyless provider has one anonymous credential). */
  readonly pool: CredentialPool<M>;
  /**
   * The caller's own provider key as a credential for one call (`DIRECT_KEYS=on`). Absent: this provider takes no
   * caller key (keyless hosts, bindings), so a direct call cannot use it.
   */
  direct?(secret: string): Credential<M>;
  /**
   * The credential that holds the files and caches made through the gateway (Gemini: `GEMINI_API_KEY`, the one the
   * resource routes use). A file or cache lives in the project of the key that made it, so a call that uses one is
   * sent with this credential, never with another of the pool.
   */
  readonly resources?: Credential<M>;
  /**
   * An answer the adapter can give without calling upstream (e.g. a token estimate where the provider has no
   * count endpoint). Returning undefined means: call upstream.
   */
  local?(call: ProviderCall): GeminiJson | undefined;
  /**
   * Builds the upstream request with the chosen credential (API key header, minted token, signature). Throws a 400
   * GatewayError for input this provider cannot take, a CredentialFailure when the credential could not be used.
   * `signal` ends any round trip of its own (a token exchange) when the attempt stops.
   */
  prepare(call: ProviderCall, credential: Credential<M>, signal?: AbortSignal): Promise<UpstreamRequest>;
  /** Translates a 2xx upstream JSON body into the Gemini answer for the action. Throws on a malformed body. */
  response(call: ProviderCall, upstream: unknown): GeminiJson;
  /**
   * Translates an upstream error (non-2xx, or one sent inside a stream) into a Gemini error carrying the upstream's
   * HTTP status. `secrets` are every secret the text could echo (the whole pool, a caller's direct key): redacted.
   */
  error(status: number, bodyText: string, secrets: readonly string[]): GatewayError;
  /** The streamed answer (SSE for most providers, AWS event-stream for Bedrock) as Gemini chunks. */
  decode: StreamDecoder;
  /** The transport; defaults to the global fetch. The built-in mock and bindings answer in-process. */
  fetch?(request: Request): Promise<Response>;
  /**
   * The Live API (a WebSocket session): the upgrade request for one session, with the chosen credential in a header
   * (never in the URL). Absent: the provider does not serve Live, and sessions naming it are refused.
   */
  live?(version: string, credential: Credential<M>): Request;
  /**
   * The provider's own resources API (Gemini: files, caches, batches, operations), called with the `resources`
   * credential. Absent: the provider has none.
   */
  readonly resourceApi?: ResourceApi<M>;
}

/** How a provider addresses its resources API: what the one upstream client needs to call it. */
export interface ResourceApi<M = unknown> {
  /** The base's origin: a URL the upstream names (an upload session, a download's redirect) gets the key only here. */
  readonly origin: string;
  /** Host names the provider's file URIs may carry (its public host, and the configured base's). */
  readonly fileHosts: ReadonlySet<string>;
  /** The address of `path` below the base, e.g. `v1beta/files/abc` (with its query, if any). */
  url(path: string): string;
  /** The headers for a request to `url`: the caller's, plus the credential's key when `url` is on the base's origin. */
  headers(url: string, headers: HeadersInit | undefined, credential: Credential<M>): Headers;
}
