/** Gemini request → OpenAI Chat Completions / Embeddings / Images request bodies. Pure functions. */
import { badRequest } from "../../gemini/errors";
import {
  assertTranslatable, base64Text, fetchableUrl, fileMime, functionCalling, jsonOutput, mediaKind, normalMime, partKind, responseText,
  toolCallIds,
} from "../../gemini/parts";
import type {
  Content, EmbedContentRequest, GenerateContentRequest, Part, PredictRequest,
} from "../../gemini/schema";
import { contentsText, systemText } from "../../gemini/text";
import { joined } from "../json-body";

export interface ChatOptions {
  /** Provider name, for error messages. */
  provider: string;
  /** OpenAI wants `max_completion_tokens` (reasoning models reject `max_tokens`); many compatible hosts only know `max_tokens`. */
  maxTokensField: "max_completion_tokens" | "max_tokens";
  /** Ask for a final usage chunk (`stream_options.include_usage`); some compatible hosts reject the field. */
  streamUsage: boolean;
  /**
   * Models that take `reasoning_effort`, and those of them that take `minimal`; others refuse the field, so it is
   * dropped for them. Unset (compatible hosts): every model gets what the thinking config asks.
   */
  reasoning?: { models: RegExp; minimal: RegExp };
}

type Msg = Record<string, unknown>;

export function chatBody(model: string, req: GenerateContentRequest, stream: boolean, o: ChatOptions): Record<string, unknown> {
  assertTranslatable(req, o.provider);
  const body: Record<string, unknown> = { model, messages: chatMessages(req, o.provider) };
  const g = req.generationConfig ?? {};
  if (g.temperature !== undefined) body.temperature = g.temperature;
  if (g.topP !== undefined) body.top_p = g.topP;
  if (g.maxOutputTokens !== undefined) body[o.maxTokensField] = g.maxOutputTokens;
  if (g.stopSequences?.length) body.stop = g.stopSequences;
  if (g.candidateCount !== undefined) body.n = g.candidateCount;
  if (g.presencePenalty !== undefined) body.presence_penalty = g.presencePenalty;
  if (g.frequencyPenalty !== undefined) body.frequency_penalty = g.frequencyPenalty;
  if (g.seed !== undefined) body.seed = g.seed;
  const effort = reasoningEffort(g.thinkingConfig);
  if (effort && (!o.reasoning || o.reasoning.models.test(model))) {
    body.reasoning_effort = effort === "minimal" && o.reasoning && !o.reasoning.minimal.test(model) ? "low" : effort;
  }
  const format = responseFormat(g);
  if (format) {
    body.response_format = format;
    // json_object mode is refused unless the conversation mentions JSON; Gemini has no such rule.
    if (format.type === "json_object" && !/json/i.test(JSON.stringify(body.messages))) {
      (body.messages as Msg[]).unshift({ role: "system", content: "Respond in JSON." });
    }
  }
  Object.assign(body, chatTools(req, o.provider));
  if (stream) {
    body.stream = true;
    if (o.streamUsage) body.stream_options = { include_usage: true };
  }
  return body;
}

export function chatMessages(req: Pick<GenerateContentRequest, "contents" | "systemInstruction">, provider: string): Msg[] {
  const out: Msg[] = [];
  const sys = systemText(req.systemInstruction);
  if (sys) out.push({ role: "system", content: sys });
  const ids = toolCallIds(req.contents, provider);
  for (const c of req.contents) {
    if (c.role === "model") {
      const m = assistantMessage(c, ids, provider);
      // A turn of thoughts only has nothing OpenAI accepts (content null without tool calls is refused).
      if (m.content !== null || m.tool_calls) out.push(m);
    }
    else out.push(...userMessages(c, ids, provider));
  }
  return out;
}

function assistantMessage(c: Content, ids: Map<Part, string>, provider: string): Msg {
  let text = "";
  const toolCalls: Msg[] = [];
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind === "text") text += p.text;
    else if (kind === "functionCall") {
      toolCalls.push({
        id: ids.get(p),
        type: "function",
        function: { name: p.functionCall!.name, arguments: JSON.stringify(p.functionCall!.args ?? {}) },
      });
    } else if (kind === "inlineData" || kind === "fileData" || kind === "functionResponse") {
      throw badRequest(`${provider}: a model turn cannot hold ${kind} parts`);
    }
    // Thought parts are the model's own reasoning: Chat Completions takes no reasoning input, so they are dropped.
  }
  const m: Msg = { role: "assistant", content: text || null };
  if (toolCalls.length) m.tool_calls = toolCalls;
  return m;
}

/** Function results become `tool` messages, which must directly follow the assistant's tool calls. */
function userMessages(c: Content, ids: Map<Part, string>, provider: string): Msg[] {
  const tools: Msg[] = [];
  const parts: Msg[] = [];
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind === "functionResponse") {
      tools.push({ role: "tool", tool_call_id: ids.get(p), content: responseText(p.functionResponse!.response) });
    } else if (kind === "text") parts.push({ type: "text", text: p.text });
    else if (kind === "inlineData") parts.push(inlinePart(p.inlineData!, provider));
    else if (kind === "fileData") parts.push(filePart(p.fileData!, provider));
    else if (kind === "functionCall") throw badRequest(`${provider}: a user turn cannot hold functionCall parts`);
  }
  if (!parts.length) return tools;
  const only = parts.length === 1 && parts[0]!.type === "text";
  return [...tools, { role: "user", content: only ? parts[0]!.text : parts }];
}

const AUDIO_FORMAT: Record<string, string> = { "audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3" };

function inlinePart(d: { mimeType: string; data: string }, provider: string): Msg {
  const mime = normalMime(d.mimeType);
  switch (mediaKind(mime)) {
    case "image":
      // A large payload stays one copy: the data: URL is written out around it, never built (see json-body.ts).
      return { type: "image_url", image_url: { url: joined(`data:${mime};base64,`, d.data) } };
    case "pdf":
      return { type: "file", file: { filename: "document.pdf", file_data: joined("data:application/pdf;base64,", d.data) } };
    case "text":
      return { type: "text", text: base64Text(d.data) };
    case "audio":
      if (AUDIO_FORMAT[mime]) return { type: "input_audio", input_audio: { data: d.data, format: AUDIO_FORMAT[mime] } };
  }
  throw badRequest(`${provider}: inlineData of type "${d.mimeType}" is not supported (images, PDF, text, wav/mp3 audio are)`);
}

function filePart(f: { mimeType?: string; fileUri: string }, provider: string): Msg {
  const mime = fileMime(f);
  if (mime && mediaKind(mime) === "image" && fetchableUrl(f.fileUri)) return { type: "image_url", image_url: { url: f.fileUri } };
  throw badRequest(`${provider}: fileData must be an http(s) image URL (got ${mime ?? "unknown type"})`);
}

/** Gemini's thinking budget (tokens) or level → OpenAI's coarse effort. -1 (dynamic) leaves the model's default. */
export function reasoningEffort(t: { thinkingBudget?: number; thinkingLevel?: string } | undefined): string | undefined {
  if (!t) return undefined;
  if (t.thinkingLevel) {
    const l = t.thinkingLevel.toLowerCase();
    return l === "minimal" || l === "low" || l === "medium" || l === "high" ? l : undefined;
  }
  const b = t.thinkingBudget;
  if (b === undefined || b < 0) return undefined;
  if (b === 0) return "minimal";
  if (b <= 2048) return "low";
  if (b <= 16384) return "medium";
  return "high";
}

function responseFormat(g: GenerateContentRequest["generationConfig"]): { type: string; json_schema?: unknown } | undefined {
  const json = jsonOutput(g);
  if (!json) return undefined;
  if (json.schema === undefined) return { type: "json_object" };
  // strict: false because Gemini schemas need not list every property as required, which strict mode demands.
  return { type: "json_schema", json_schema: { name: "response", schema: json.schema, strict: false } };
}

export function chatTools(req: Pick<GenerateContentRequest, "tools" | "toolConfig">, provider: string): Record<string, unknown> {
  const { decls, mode, forced } = functionCalling(req, provider);
  if (!decls.length) return {};
  const tools = decls.map((d) => ({
    type: "function",
    function: { name: d.name, ...(d.description ? { description: d.description } : {}), parameters: d.schema },
  }));
  const out: Record<string, unknown> = { tools };
  if (mode === "NONE") out.tool_choice = "none";
  else if (mode === "ANY") out.tool_choice = forced ? { type: "function", function: { name: forced } } : "required";
  else if (mode === "AUTO") out.tool_choice = "auto";
  return out;
}

export function embeddingsBody(model: string, requests: readonly EmbedContentRequest[], provider: string): Record<string, unknown> {
  const dims = new Set(requests.map((r) => r.outputDimensionality));
  if (dims.size > 1) throw badRequest(`${provider}: every request in a batch must ask for the same outputDimensionality`);
  const body: Record<string, unknown> = { model, input: requests.map((r) => contentsText([r.content])), encoding_format: "float" };
  const d = requests[0]?.outputDimensionality;
  if (d !== undefined) body.dimensions = d;
  return body;
}


const LANDSCAPE = new Set(["16:9", "4:3", "3:2"]);
const PORTRAIT = new Set(["9:16", "3:4", "2:3"]);

/** Imagen `predict` → `/v1/images/generations`. gpt-image models always answer base64 and reject `response_format`. */
export function imagesBody(model: string, req: PredictRequest, provider: string): Record<string, unknown> {
  if (req.instances.length !== 1 || !req.instances[0]!.prompt) throw badRequest(`${provider}: predict takes exactly one instance with a prompt`);
  const p = req.parameters ?? {};
  const gptImage = model.startsWith("gpt-image");
  const body: Record<string, unknown> = { model, prompt: req.instances[0]!.prompt };
  if (p.sampleCount !== undefined) body.n = p.sampleCount;
  const ar = p.aspectRatio;
  if (ar && ar !== "1:1") {
    if (!LANDSCAPE.has(ar) && !PORTRAIT.has(ar)) throw badRequest(`${provider}: aspectRatio "${ar}" is not supported`);
    const wide = LANDSCAPE.has(ar);
    body.size = gptImage ? (wide ? "1536x1024" : "1024x1536") : wide ? "1792x1024" : "1024x1792";
  } else if (ar) body.size = "1024x1024";
  if (gptImage) {
    const mime = p.outputOptions?.mimeType;
    if (mime) body.output_format = mime.replace("image/", "").replace("jpg", "jpeg");
  } else body.response_format = "b64_json";
  return body;
}
