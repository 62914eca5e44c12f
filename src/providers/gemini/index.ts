/** Native Gemini: nearly the identity. The body passes through as the caller sent it, minus the gateway's fields. */
import { ACTIONS, type GenerateContentResponse } from "../../gemini/schema";
import { StreamedUpstreamError, upstreamError } from "../../gemini/errors";
import { forwardVerbatim } from "../../streaming/sse";
import type { GeminiJson, ModelInfo, Provider, ProviderCall, StreamTranslator } from "../types";
import { GEMINI_MODELS } from "./models";

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";

export interface GeminiSettings {
  name?: string;
  baseUrl: string;
  apiKey?: string;
  models?: readonly ModelInfo[];
}

export function geminiProvider(s: GeminiSettings): Provider {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name ?? "gemini";
  return {
    name,
    actions: new Set(ACTIONS),
    models: s.models ?? GEMINI_MODELS,
    configured: !!s.apiKey,
    request: (call) => new Request(geminiUrl(base, call), {
      method: "POST",
      headers: geminiHeaders(s.apiKey),
      body: JSON.stringify(upstreamBody(call)),
    }),
    response: (_call, upstream) => {
      if (!upstream || typeof upstream !== "object" || Array.isArray(upstream)) {
        throw new TypeError("upstream answer is not a JSON object");
      }
      return upstream as GeminiJson;
    },
    error: (status, text) => upstreamError(status, text, name, s.apiKey),
    stream: geminiStream,
    live: (version) => ({
      request: new Request(geminiLiveUrl(base, version), { headers: liveHeaders(s.apiKey) }),
      redact: (text) => (s.apiKey ? text.split(s.apiKey).join("[redacted]") : text),
      handleSecret: s.apiKey ?? "",
    }),
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
function upstreamBody(call: ProviderCall): unknown {
  if (call.action !== "batchEmbedContents") return call.body;
  const body = call.body as { requests: Record<string, unknown>[] };
  return { ...body, requests: body.requests.map((r) => ({ ...r, model: `models/${call.model}` })) };
}

/** Gemini already streams Gemini chunks: each `data:` event is one chunk. */
export function geminiStream(): StreamTranslator {
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
