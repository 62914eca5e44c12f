/** Gemini request → Anthropic Messages (and count_tokens) request bodies. Pure functions. */
import { badRequest } from "../../gemini/errors";
import {
  assertTranslatable, base64Text, fetchableUrl, fileMime, functionCalling, jsonOutput, mediaKind, normalMime, partKind, responseText,
  toolCallIds,
} from "../../gemini/parts";
import type { Content, CountTokensRequest, GenerateContentRequest, Part } from "../../gemini/schema";
import { systemText } from "../../gemini/text";

type Block = Record<string, unknown>;
type Msg = { role: "user" | "assistant"; content: Block[] };

/** Anthropic requires max_tokens; Gemini defaults to the model's maximum. 8192 fits every current Claude model. */
export const DEFAULT_MAX_TOKENS = 8192;
/** Room left for the answer when thinking is on and the caller set no maxOutputTokens. */
const ANSWER_ROOM = 4096;
const MIN_BUDGET = 1024;
/** thinkingLevel → budget_tokens; a dynamic budget (-1) or includeThoughts alone gets `medium`. */
const LEVEL_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 24576 };

/** The forced tool that carries structured output (see `jsonMode`). */
export const JSON_TOOL = "json_response";

type GenConfig = NonNullable<GenerateContentRequest["generationConfig"]>;

/**
 * How a JSON answer is obtained. With a schema, no thinking and no function tools: a forced tool whose input is
 * the schema, which Claude fills reliably; the tool's input comes back as the text part. Otherwise (no schema, or
 * forcing a tool is impossible because thinking or the caller's own tools are in play): a system instruction.
 */
export function jsonMode(req: Pick<GenerateContentRequest, "generationConfig" | "tools">):
  | { kind: "tool"; schema: unknown }
  | { kind: "system"; schema?: unknown }
  | undefined {
  const g = req.generationConfig ?? {};
  const json = jsonOutput(g);
  if (!json) return undefined;
  const { schema } = json;
  const hasTools = (req.tools ?? []).some((t) => t.functionDeclarations?.length);
  if (schema !== undefined && !thinkingBudget(g) && !hasTools) return { kind: "tool", schema };
  return { kind: "system", schema };
}

export function messagesBody(model: string, req: GenerateContentRequest, stream: boolean, provider: string): Record<string, unknown> {
  assertTranslatable(req, provider);
  const g = req.generationConfig ?? {};
  if ((g.candidateCount ?? 1) > 1) throw badRequest(`${provider}: candidateCount above 1 is not supported`);

  const body: Record<string, unknown> = { model, messages: anthropicMessages(req.contents, provider) };
  const json = jsonMode(req);
  let system = systemText(req.systemInstruction);
  if (json?.kind === "system") {
    const rule = json.schema === undefined
      ? "Respond with a single valid JSON value and nothing else."
      : `Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else:\n${JSON.stringify(json.schema)}`;
    system = system ? `${system}\n\n${rule}` : rule;
  }
  if (system) body.system = system;

  const tools = json?.kind === "tool" ? undefined : anthropicTools(req, provider);
  const forced = (tools?.tool_choice as { type?: string } | undefined)?.type;
  // Anthropic allows only `auto`/`none` tool choice while thinking; a forced call (mode ANY) is the harder
  // constraint of the two, so thinking is dropped for it.
  const budget = forced === "any" || forced === "tool" ? 0 : thinkingBudget(g);
  const maxTokens = g.maxOutputTokens ?? (budget ? budget + ANSWER_ROOM : DEFAULT_MAX_TOKENS);
  if (budget) {
    // budget_tokens must be below max_tokens (both count thinking), and at least 1024.
    const b = Math.min(budget, maxTokens - 1);
    if (b < MIN_BUDGET) throw badRequest(`${provider}: with thinking on, maxOutputTokens must be above ${MIN_BUDGET}`);
    body.thinking = { type: "enabled", budget_tokens: b };
  } else {
    // Anthropic rejects temperature/top_k (and most top_p) while thinking; they apply only without it.
    // Gemini's temperature runs to 2, Anthropic's to 1.
    if (g.temperature !== undefined) body.temperature = Math.min(g.temperature, 1);
    if (g.topP !== undefined) body.top_p = g.topP;
    if (g.topK !== undefined) body.top_k = g.topK;
  }
  body.max_tokens = maxTokens;
  if (g.stopSequences?.length) body.stop_sequences = g.stopSequences;

  if (json?.kind === "tool") {
    body.tools = [{ name: JSON_TOOL, description: "Give the answer as this tool's input.", input_schema: objectSchema(json.schema) }];
    body.tool_choice = { type: "tool", name: JSON_TOOL };
  } else Object.assign(body, tools);
  if (stream) body.stream = true;
  return body;
}

/** Anthropic tool input must be an object schema: anything else is wrapped as `{value: ...}`. */
function objectSchema(schema: unknown): unknown {
  return isObjectSchema(schema) ? schema : { type: "object", properties: { value: schema }, required: ["value"] };
}

export const isObjectSchema = (schema: unknown) => (schema as { type?: unknown } | null)?.type === "object";

export function countTokensBody(model: string, req: CountTokensRequest, provider: string): Record<string, unknown> {
  const g = req.generateContentRequest as (GenerateContentRequest & Record<string, unknown>) | undefined;
  const contents = req.contents ?? g?.contents;
  if (!contents?.length) throw badRequest(`${provider}: countTokens needs contents`);
  const body: Record<string, unknown> = { model, messages: anthropicMessages(contents, provider) };
  const system = systemText(g?.systemInstruction);
  if (system) body.system = system;
  if (g) Object.assign(body, anthropicTools(g, provider));
  return body;
}

export function thinkingBudget(g: GenConfig): number {
  const t = g.thinkingConfig;
  if (!t) return 0;
  let b = t.thinkingLevel ? LEVEL_BUDGET[t.thinkingLevel.toLowerCase()] : t.thinkingBudget;
  if (b === undefined) b = t.includeThoughts ? -1 : 0;
  if (b === 0) return 0;
  return b < 0 ? LEVEL_BUDGET.medium! : Math.max(MIN_BUDGET, b);
}

export function anthropicMessages(contents: readonly Content[], provider: string): Msg[] {
  const ids = toolCallIds(contents, provider);
  const out: Msg[] = [];
  for (const c of contents) {
    const m = c.role === "model" ? assistantMessage(c, ids, provider) : userMessage(c, ids, provider);
    if (m.content.length) out.push(m);
  }
  return out;
}

function assistantMessage(c: Content, ids: Map<Part, string>, provider: string): Msg {
  const content: Block[] = [];
  // A streamed thinking block arrives as several thought parts, the signature on the last: the signature covers
  // the whole text, so consecutive thoughts are joined into one block when the signed part comes.
  let thought = "";
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind !== "thought") thought = "";
    if (kind === "text" && p.text) content.push({ type: "text", text: p.text });
    else if (kind === "thought") {
      thought += p.text ?? "";
      // A thinking block goes back only with the signature Anthropic gave it; unsigned thoughts are refused.
      if (p.thoughtSignature) {
        content.push({ type: "thinking", thinking: thought, signature: p.thoughtSignature });
        thought = "";
      }
    } else if (kind === "functionCall") {
      content.push({ type: "tool_use", id: ids.get(p), name: p.functionCall!.name, input: p.functionCall!.args ?? {} });
    } else if (kind === "inlineData" || kind === "fileData" || kind === "functionResponse") {
      throw badRequest(`${provider}: a model turn cannot hold ${kind} parts`);
    }
  }
  return { role: "assistant", content };
}

/** tool_result blocks must come first in the user turn that follows the tool calls. */
function userMessage(c: Content, ids: Map<Part, string>, provider: string): Msg {
  const results: Block[] = [];
  const rest: Block[] = [];
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind === "functionResponse") {
      const r = p.functionResponse!.response;
      const block: Block = { type: "tool_result", tool_use_id: ids.get(p), content: responseText(r) };
      // Gemini's convention for a failed call is a response holding only `error`.
      if (r && typeof r === "object" && Object.keys(r).length === 1 && "error" in r) block.is_error = true;
      results.push(block);
    } else if (kind === "text" && p.text) rest.push({ type: "text", text: p.text });
    else if (kind === "inlineData") rest.push(inlineBlock(p.inlineData!, provider));
    else if (kind === "fileData") rest.push(fileBlock(p.fileData!, provider));
    else if (kind === "functionCall") throw badRequest(`${provider}: a user turn cannot hold functionCall parts`);
  }
  return { role: "user", content: [...results, ...rest] };
}

function inlineBlock(d: { mimeType: string; data: string }, provider: string): Block {
  const mime = normalMime(d.mimeType);
  switch (mediaKind(mime)) {
    case "image":
      return { type: "image", source: { type: "base64", media_type: mime, data: d.data } };
    case "pdf":
      return { type: "document", source: { type: "base64", media_type: "application/pdf", data: d.data } };
    case "text":
      return { type: "text", text: base64Text(d.data) };
  }
  throw badRequest(`${provider}: inlineData of type "${d.mimeType}" is not supported (images, PDF and text are)`);
}

function fileBlock(f: { mimeType?: string; fileUri: string }, provider: string): Block {
  const mime = fileMime(f);
  const kind = mime ? mediaKind(mime) : undefined;
  if (fetchableUrl(f.fileUri) && (kind === "image" || kind === "pdf")) {
    return { type: kind === "image" ? "image" : "document", source: { type: "url", url: f.fileUri } };
  }
  throw badRequest(`${provider}: fileData must be an http(s) URL of an image or PDF (got ${mime ?? "unknown type"})`);
}

export function anthropicTools(req: Pick<GenerateContentRequest, "tools" | "toolConfig">, provider: string): Record<string, unknown> {
  const { decls, mode, forced } = functionCalling(req, provider);
  if (!decls.length) return {};
  const tools = decls.map((d) => ({ name: d.name, ...(d.description ? { description: d.description } : {}), input_schema: d.schema }));
  const out: Record<string, unknown> = { tools };
  if (mode === "NONE") out.tool_choice = { type: "none" };
  else if (mode === "ANY") out.tool_choice = forced ? { type: "tool", name: forced } : { type: "any" };
  else if (mode === "AUTO") out.tool_choice = { type: "auto" };
  return out;
}
