/** Native Gemini: nearly the identity. The body passes through as the caller sent it, minus the gateway's fields. */
import { ACTIONS, type GenerateContentResponse } from "../../gemini/schema";
import { StreamedUpstreamError, upstreamError } from "../../gemini/errors";
import { forwardVerbatim, type SseEvent } from "../../streaming/sse";
import { sseDecoder } from "../../streaming/translate";
import { CredentialPool, directCredential } from "../credentials/pool";
import type { GeminiJson, ModelInfo, Provider, ProviderCall, ResourceApi, StreamTranslator } from "../types";
import { GEMINI_MODELS } from "./models";
import { jsonBody } from "../json-body";

export const GEMINI_PUBLIC_HOST = "generativelanguage.googleapis.com";
export const GEMINI_DEFAULT_BASE_URL = `https://${GEMINI_PUBLIC_HOST}`;

export interface GeminiSettings {
  name?: string;
  baseUrl: string;
  /** API keys; none (the mock) means no key is sent. */
  pool?: CredentialPool<string>;
  /** The key the resource routes use (`GEMINI_API_KEY`): files and caches live in its project. */
  resourcesKey?: string;
  models?: readonly ModelInfo[];
}

/** The label a resources key outside the pool goes by in rows and error details. */
export const RESOURCES_LABEL = "resources";

export function geminiProvider(s: GeminiSettings): Provider<string | undefined> {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name ?? "gemini";
  const pool: CredentialPool<string | undefined> = s.pool ?? CredentialPool.keyless(name);
  return {
    name,
    actions: new Set(ACTIONS),
    models: s.models ?? GEMINI_MODELS,
    configured: !pool.empty,
    pool,
    direct: (key) => directCredential(key, key),
    // The pool's own credential for that key when it has one (same label, same health), else one of its own.
    resources: s.resourcesKey === undefined ? undefined
      : pool.credentials.find((c) => c.material === s.resourcesKey) ?? { label: RESOURCES_LABEL, secrets: [s.resourcesKey], material: s.resourcesKey },
    prepare: async (call, credential) => ({ url: geminiUrl(base, call), headers: geminiHeaders(credential.material), body: jsonBody(geminiBody(call)) }),
    response: (_call, upstream) => geminiAnswer(upstream),
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: sseDecoder(geminiStream),
    live: (version, credential) => new Request(geminiLiveUrl(base, version), { headers: liveHeaders(credential.material) }),
    resourceApi: geminiResources(base),
  };
}

/**
 * Files, caches, batches and operations, at Google's own paths below the base. The key goes only in
 * `x-goog-api-key`, only to the base's origin, never in a URL.
 */
function geminiResources(base: string): ResourceApi<string | undefined> {
  // Parsed on first use, so that a malformed base URL fails the calls that need it, not the config.
  let parsed: { origin: string; fileHosts: ReadonlySet<string> } | undefined;
  const at = () => {
    if (!parsed) {
      const url = new URL(base);
      parsed = { origin: url.origin, fileHosts: new Set([GEMINI_PUBLIC_HOST, url.hostname.toLowerCase()]) };
    }
    return parsed;
  };
  return {
    get origin() {
      return at().origin;
    },
    get fileHosts() {
      return at().fileHosts;
    },
    url: (path) => `${base}/${path}`,
    headers(to, init, credential) {
      const headers = new Headers(init);
      if (credential.material && new URL(to).origin === at().origin) headers.set("x-goog-api-key", credential.material);
      return headers;
    },
  };
}

/** The Live socket, as @google/genai builds it from a base URL (wss: is https: to the Workers fetch). */
export const geminiLiveUrl = (base: string, version: string) =>
  `${base}/ws/google.ai.generativelanguage.${version}.GenerativeService.BidiGenerateContent`;

function liveHeaders(apiKey: string | undefined): HeadersInit {
  const h: Record<string, string> = { upgrade: "websocket" };
  if (apiKey) h["x-goog-api-key"] = apiKey;
  return h;
}

export function geminiUrl(base: string, call: ProviderCall): string {
  const path = `${base}/${call.version}/models/${encodeURIComponent(call.model)}:${call.action}`;
  return call.action === "streamGenerateContent" ? `${path}?alt=sse` : path;
}

export function geminiHeaders(apiKey: string | undefined): HeadersInit {
  const h: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) h["x-goog-api-key"] = apiKey;
  return h;
}

/** Gemini wants every batched embed request to name the same model as the URL. */
function geminiBody(call: ProviderCall): unknown {
  if (call.action !== "batchEmbedContents") return call.body;
  const body = call.body as { requests: Record<string, unknown>[] };
  return { ...body, requests: body.requests.map((r) => ({ ...r, model: `models/${call.model}` })) };
}

/** A Gemini JSON answer is already the answer; only its shape is checked. */
export function geminiAnswer(upstream: unknown): GeminiJson {
  if (!upstream || typeof upstream !== "object" || Array.isArray(upstream)) {
    throw new TypeError("upstream answer is not a JSON object");
  }
  return upstream as GeminiJson;
}

/** Gemini already streams Gemini chunks: each `data:` event is one chunk. */
export function geminiStream(): StreamTranslator<SseEvent> {
  return {
    event(e) {
      if (!e.data || e.data === "[DONE]") return [];
      const chunk = JSON.parse(e.data) as GenerateContentResponse;
      if ((chunk as { error?: unknown }).error) throw new StreamedUpstreamError(chunk as never);
      return [forwardVerbatim(chunk, e.data)];
    },
    end: () => [],
  };
}
