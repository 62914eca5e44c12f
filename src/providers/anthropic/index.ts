/** Anthropic Messages API: generate and stream on `/v1/messages`, countTokens on `/v1/messages/count_tokens`. */
import { upstreamError } from "../../gemini/errors";
import type { CountTokensRequest, GenerateContentRequest } from "../../gemini/schema";
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
  apiKey?: string;
  models?: readonly ModelInfo[];
}

/** Whether this call's JSON answer comes through the forced tool (a pure function of the request). */
function jsonToolOf(call: ProviderCall): JsonTool | undefined {
  const j = jsonMode(call.body as GenerateContentRequest);
  return j?.kind === "tool" ? { name: JSON_TOOL, unwrap: !isObjectSchema(j.schema) } : undefined;
}

export function anthropicProvider(s: AnthropicSettings): Provider {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name ?? "anthropic";
  const headers: Record<string, string> = { "content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION };
  if (s.apiKey) headers["x-api-key"] = s.apiKey;

  return {
    name,
    models: s.models ?? ANTHROPIC_MODELS,
    actions: new Set(["generateContent", "streamGenerateContent", "countTokens"] as const),
    configured: !!s.apiKey,
    request(call) {
      const count = call.action === "countTokens";
      const body = count
        ? countTokensBody(call.model, call.body as CountTokensRequest, name)
        : messagesBody(call.model, call.body as GenerateContentRequest, call.action === "streamGenerateContent", name);
      return new Request(`${base}/v1/messages${count ? "/count_tokens" : ""}`, { method: "POST", headers, body: jsonBody(body) });
    },
    response(call, upstream): GeminiJson {
      if (call.action === "countTokens") {
        const n = (upstream as { input_tokens?: unknown })?.input_tokens;
        if (typeof n !== "number") throw new TypeError("count_tokens answer has no input_tokens");
        return { totalTokens: n };
      }
      return messageResponse(upstream as AnthropicMessage, jsonToolOf(call));
    },
    error: (status, text) => upstreamError(status, text, name, s.apiKey),
    stream: (call) => anthropicStream(jsonToolOf(call)),
  };
}
