/**
 * OpenAI, and every OpenAI-compatible host (Groq, Mistral, OpenRouter, Ollama, vLLM ...): the same adapter under
 * another name, base URL and key. Chat Completions for generate/stream, `/v1/embeddings`, `/v1/images/generations`;
 * countTokens is answered locally with an estimate, as there is no count endpoint.
 */
import { badRequest, upstreamError } from "../../gemini/errors";
import type {
  Action, BatchEmbedContentsRequest, CountTokensRequest, EmbedContentRequest, GenerateContentRequest, PredictRequest,
} from "../../gemini/schema";
import { contentsText, estimateTokens, systemText } from "../../gemini/text";
import type { GeminiJson, ModelInfo, Provider, ProviderCall } from "../types";
import { chatBody, embeddingsBody, imagesBody, type ChatOptions } from "./request";
import { chatResponse, embeddingsResponse, imagesResponse, type ChatCompletion } from "./response";
import { openaiStream } from "./stream";
import { jsonBody } from "../json-body";

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com";

export const OPENAI_ACTIONS: readonly Action[] = [
  "generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents", "predict",
];

export interface OpenAiSettings {
  name: string;
  baseUrl: string;
  apiKey?: string;
  /** A host without a key (a local Ollama) is usable as is; OpenAI itself needs one. */
  keyRequired: boolean;
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

export function openaiProvider(s: OpenAiSettings): Provider {
  const base = s.baseUrl.replace(/\/+$/, "");
  const name = s.name;
  const opts: ChatOptions = {
    provider: name,
    maxTokensField: s.maxTokensField ?? "max_completion_tokens",
    streamUsage: s.streamUsage ?? true,
    reasoning: s.reasoning,
  };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (s.apiKey) headers.authorization = `Bearer ${s.apiKey}`;

  const body = (call: ProviderCall): unknown => {
    switch (call.action) {
      case "generateContent":
      case "streamGenerateContent":
        return chatBody(call.model, call.body as GenerateContentRequest, call.action === "streamGenerateContent", opts);
      case "embedContent":
        return embeddingsBody(call.model, [call.body as EmbedContentRequest], name);
      case "batchEmbedContents":
        return embeddingsBody(call.model, (call.body as BatchEmbedContentsRequest).requests, name);
      case "predict":
        return imagesBody(call.model, call.body as PredictRequest, name);
      case "countTokens":
        throw badRequest(`${name}: countTokens is answered locally`);
    }
  };

  return {
    name,
    models: s.models,
    actions: new Set(s.actions ?? OPENAI_ACTIONS),
    configured: !s.keyRequired || !!s.apiKey,
    local: (call) => (call.action === "countTokens" ? estimateCount(call.body as CountTokensRequest) : undefined),
    request: (call) => new Request(base + PATHS[call.action], { method: "POST", headers, body: jsonBody(body(call)) }),
    response(call, upstream): GeminiJson {
      switch (call.action) {
        case "embedContent":
        case "batchEmbedContents":
          return embeddingsResponse(upstream as never, call.action === "batchEmbedContents");
        case "predict":
          return imagesResponse(upstream as never);
        default:
          return chatResponse(upstream as ChatCompletion);
      }
    },
    error: (status, text) => upstreamError(status, text, name, s.apiKey),
    stream: () => openaiStream(),
  };
}

/** No count endpoint exists: an estimate (about four characters a token), flagged `estimated: true`. */
function estimateCount(body: CountTokensRequest): GeminiJson {
  const g = body.generateContentRequest as (GenerateContentRequest & Record<string, unknown>) | undefined;
  const contents = body.contents ?? g?.contents ?? [];
  let text = contentsText(contents) + systemText(g?.systemInstruction);
  // Function calls, results and declarations cost tokens too: count their JSON.
  for (const c of contents) for (const p of c.parts) if (p.functionCall || p.functionResponse) text += JSON.stringify(p.functionCall ?? p.functionResponse);
  if (g?.tools) text += JSON.stringify(g.tools);
  return { totalTokens: estimateTokens(text), estimated: true };
}
