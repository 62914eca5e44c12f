/**
 * OpenAI, and every OpenAI-compatible host (Groq, Mistral, OpenRouter, Ollama, vLLM ...): the same adapter under
 * another name, base URL and keys. Chat Completions for generate/stream, `/v1/embeddings`, `/v1/images/generations`;
 * countTokens is answered locally with an estimate, as there is no count endpoint.
 */
import { upstreamError } from "../../gemini/errors";
import type { Action, CountTokensRequest } from "../../gemini/schema";
import { estimateCount } from "../../gemini/text";
import { sseDecoder } from "../../streaming/translate";
import { CredentialPool, directCredential } from "../credentials/pool";
import type { ModelInfo, Provider } from "../types";
import type { ChatOptions } from "./request";
import { openaiAnswer, openaiBody } from "./wire";
import { openaiStream } from "./stream";
import { jsonBody } from "../json-body";

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com";

export const OPENAI_ACTIONS: readonly Action[] = [
  "generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents", "predict",
];

export interface OpenAiSettings {
  name: string;
  baseUrl: string;
  /** API keys; undefined for a host that takes none (a local Ollama), which is usable as is. */
  pool?: CredentialPool<string>;
  models: readonly ModelInfo[];
  actions?: readonly Action[];
  maxTokensField?: ChatOptions["maxTokensField"];
  streamUsage?: boolean;
  reasoning?: ChatOptions["reasoning"];
}

const PATHS: Record<Action, string> = {
  generateContent: "/v1/chat/completions",
  streamGenerateContent: "/v1/chat/completions",
  countTokens: "/v1/chat/completions",
  embedContent: "/v1/embeddings",
  batchEmbedContents: "/v1/embeddings",
  predict: "/v1/images/generations",
};

export function openaiProvider(s: OpenAiSettings): Provider<string | undefined> {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name;
  const opts: ChatOptions = {
    provider: name,
    maxTokensField: s.maxTokensField ?? "max_completion_tokens",
    streamUsage: s.streamUsage ?? true,
    reasoning: s.reasoning,
  };
  const pool: CredentialPool<string | undefined> = s.pool ?? CredentialPool.keyless(name);

  return {
    name,
    models: s.models,
    actions: new Set(s.actions ?? OPENAI_ACTIONS),
    configured: !pool.empty,
    pool,
    // A keyless host is the operator's own machine: a caller's key means nothing there.
    ...(s.pool ? { direct: (key: string) => directCredential(key, key) } : {}),
    local: (call) => (call.action === "countTokens" ? estimateCount(call.body as CountTokensRequest) : undefined),
    prepare: async (call, credential) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (credential.material) headers.authorization = `Bearer ${credential.material}`;
      return new Request(base + PATHS[call.action], { method: "POST", headers, body: jsonBody(openaiBody(call, opts)) });
    },
    response: openaiAnswer,
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: sseDecoder(() => openaiStream()),
  };
}
