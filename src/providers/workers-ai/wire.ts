/** Gemini request → Workers AI inputs, and Workers AI answers → Gemini, through the OpenAI translators. */
import { badRequest } from "../../gemini/errors";
import type { BatchEmbedContentsRequest, EmbedContentRequest, GenerateContentRequest } from "../../gemini/schema";
import { contentsText } from "../../gemini/text";
import { chatBody } from "../openai/request";
import { chatResponse, type ChatCompletion, type OpenAiToolCall, type OpenAiUsage } from "../openai/response";
import type { GeminiJson, ProviderCall } from "../types";

const PROVIDER = "workers-ai";

/** Workers AI's own answer shape (models that do not answer in OpenAI's). */
export interface AiNative {
  response?: unknown;
  tool_calls?: AiToolCall[] | null;
  usage?: OpenAiUsage;
}

/** A whole call (`name`, `arguments` as an object or JSON text) or, in streams, an OpenAI-style fragment. */
export type AiToolCall = OpenAiToolCall & { name?: string; arguments?: unknown };

export function aiInputs(call: ProviderCall): Record<string, unknown> {
  switch (call.action) {
    case "embedContent":
      return { text: [contentsText([(call.body as EmbedContentRequest).content])] };
    case "batchEmbedContents":
      return { text: (call.body as BatchEmbedContentsRequest).requests.map((r) => contentsText([r.content])) };
    case "generateContent":
    case "streamGenerateContent":
      return chatInputs(call);
  }
  throw badRequest(`${PROVIDER}: ${call.action} is not supported`);
}

function chatInputs(call: ProviderCall): Record<string, unknown> {
  const stream = call.action === "streamGenerateContent";
  const body = chatBody(call.model, call.body as GenerateContentRequest, stream, { provider: PROVIDER, maxTokensField: "max_tokens", streamUsage: false });
  const { model: _model, n, tool_choice: _choice, reasoning_effort: _effort, response_format: format, ...inputs } = body;
  // One answer per call, and the models choose tools themselves: Workers AI has no n or tool_choice.
  if (typeof n === "number" && n > 1) throw badRequest(`${PROVIDER}: candidateCount above 1 is not supported`);
  const f = format as { type: string; json_schema?: { schema?: unknown } } | undefined;
  if (f) inputs.response_format = f.json_schema ? { type: "json_schema", json_schema: f.json_schema.schema } : { type: "json_object" };
  return inputs;
}

export function aiAnswer(call: ProviderCall, upstream: unknown): GeminiJson {
  if (call.action === "embedContent" || call.action === "batchEmbedContents") {
    const data = (upstream as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new TypeError("not an embedding answer (no data)");
    const values = data.map((v) => ({ values: v as number[] }));
    return call.action === "batchEmbedContents" ? { embeddings: values } : { embedding: values[0] };
  }
  const u = upstream as (ChatCompletion & AiNative) | null;
  if (!u || typeof u !== "object") throw new TypeError("not a Workers AI answer");
  return chatResponse(Array.isArray(u.choices) ? u : nativeCompletion(u));
}

/** A native answer as the chat completion it amounts to. */
function nativeCompletion(u: AiNative): ChatCompletion {
  const calls = (u.tool_calls ?? []).map(wholeCall);
  const text = u.response === undefined || u.response === null ? null : typeof u.response === "string" ? u.response : JSON.stringify(u.response);
  return {
    choices: [{ index: 0, message: { content: text, ...(calls.length ? { tool_calls: calls } : {}) }, finish_reason: calls.length ? "tool_calls" : "stop" }],
    usage: u.usage,
  };
}

/** A native whole call (`{name, arguments}`) in OpenAI's shape; OpenAI-shaped entries pass as they are. */
export function wholeCall(t: AiToolCall): OpenAiToolCall {
  if (t.function) return t;
  const args = t.arguments;
  return { ...(t.id ? { id: t.id } : {}), type: "function", function: { name: t.name, arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}) } };
}
