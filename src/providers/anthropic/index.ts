/** Anthropic Messages API: generate and stream on `/v1/messages`, countTokens on `/v1/messages/count_tokens`. */
import { upstreamError } from "../../gemini/errors";
import type { CountTokensRequest, GenerateContentRequest } from "../../gemini/schema";
import { sseDecoder } from "../../streaming/translate";
import { type CredentialPool, directCredential } from "../credentials/pool";
import type { GeminiJson, ModelInfo, Provider, ProviderCall } from "../types";
import { ANTHROPIC_MODELS } from "./models";
import { countTokensBody, isObjectSchema, JSON_TOOL, jsonMode, messagesBody } from "./request";
import { messageResponse, type AnthropicMessage, type JsonTool } from "./response";
import { anthropicStream } from "./stream";
import { jsonBody } from "../json-body";

export const ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com";
export const ANTHROPIC_VERSION = "2023-06-01";

export interface AnthropicSettings {
  name?: string;
  baseUrl: string;
  pool: CredentialPool<string>;
  models?: readonly ModelInfo[];
}

/** Whether this call's JSON answer comes through the forced tool (a pure function of the request). */
function jsonToolOf(call: ProviderCall): JsonTool | undefined {
  const j = jsonMode(call.body as GenerateContentRequest);
  return j?.kind === "tool" ? { name: JSON_TOOL, unwrap: !isObjectSchema(j.schema) } : undefined;
}

/** The Messages body of a generate, stream or count call (Anthropic's own API and Claude on Vertex alike). */
export function anthropicBody(call: ProviderCall, provider: string): Record<string, unknown> {
  return call.action === "countTokens"
    ? countTokensBody(call.model, call.body as CountTokensRequest, provider)
    : messagesBody(call.model, call.body as GenerateContentRequest, call.action === "streamGenerateContent", provider);
}

/** A Messages (or count_tokens) answer → the Gemini answer of the call's action. */
export function anthropicAnswer(call: ProviderCall, upstream: unknown): GeminiJson {
  if (call.action === "countTokens") {
    const n = (upstream as { input_tokens?: unknown })?.input_tokens;
    if (typeof n !== "number") throw new TypeError("count_tokens answer has no input_tokens");
    return { totalTokens: n };
  }
  return messageResponse(upstream as AnthropicMessage, jsonToolOf(call));
}

/** Anthropic's SSE, translated with the call's forced JSON tool in mind. */
export const anthropicDecoder = sseDecoder((call: ProviderCall) => anthropicStream(jsonToolOf(call)));

export function anthropicProvider(s: AnthropicSettings): Provider<string> {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name ?? "anthropic";

  return {
    name,
    models: s.models ?? ANTHROPIC_MODELS,
    actions: new Set(["generateContent", "streamGenerateContent", "countTokens"] as const),
    configured: !s.pool.empty,
    pool: s.pool,
    direct: (key) => directCredential(key, key),
    async prepare(call, credential) {
      const headers = { "content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION, "x-api-key": credential.material };
      const path = call.action === "countTokens" ? "/v1/messages/count_tokens" : "/v1/messages";
      return { url: base + path, headers, body: jsonBody(anthropicBody(call, name)) };
    },
    response: anthropicAnswer,
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: anthropicDecoder,
  };
}
