/** Gemini request → Bedrock Converse request body. Pure functions. */
import { badRequest } from "../../gemini/errors";
import {
  assertTranslatable, base64Text, fileMime, functionCalling, jsonOutput, mediaKind, normalMime, partKind, toolCallIds,
} from "../../gemini/parts";
import type { Content, GenerateContentRequest, Part } from "../../gemini/schema";
import { systemText } from "../../gemini/text";
// Claude's thinking budget from Gemini's thinkingConfig: the same rule as Anthropic's own API.
import { thinkingBudget } from "../anthropic/request";

type Block = Record<string, unknown>;
type Msg = { role: "user" | "assistant"; content: Block[] };

const IMAGE_FORMATS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp" };

export function converseBody(model: string, req: GenerateContentRequest, provider: string): Record<string, unknown> {
  assertTranslatable(req, provider);
  const g = req.generationConfig ?? {};
  if ((g.candidateCount ?? 1) > 1) throw badRequest(`${provider}: candidateCount above 1 is not supported`);
  const body: Record<string, unknown> = { messages: converseMessages(req.contents, provider) };

  let system = systemText(req.systemInstruction);
  // Converse has no response format: a JSON answer is asked for in the system prompt.
  const json = jsonOutput(g);
  if (json) {
    const rule = json.schema === undefined
      ? "Respond with a single valid JSON value and nothing else."
      : `Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else:\n${JSON.stringify(json.schema)}`;
    system = system ? `${system}\n\n${rule}` : rule;
  }
  if (system) body.system = [{ text: system }];

  const inference: Record<string, unknown> = {};
  if (g.maxOutputTokens !== undefined) inference.maxTokens = g.maxOutputTokens;
  if (g.temperature !== undefined) inference.temperature = Math.min(g.temperature, 1);
  if (g.topP !== undefined) inference.topP = g.topP;
  if (g.stopSequences?.length) inference.stopSequences = g.stopSequences;
  const budget = thinkingBudget(g);
  if (budget && model.includes("anthropic.")) {
    // Claude's extended thinking travels in additionalModelRequestFields and excludes temperature and topP.
    const maxTokens = (inference.maxTokens as number | undefined) ?? budget + 4096;
    inference.maxTokens = maxTokens;
    delete inference.temperature;
    delete inference.topP;
    body.additionalModelRequestFields = { thinking: { type: "enabled", budget_tokens: Math.min(budget, maxTokens - 1) } };
  }
  if (Object.keys(inference).length) body.inferenceConfig = inference;

  const tools = converseTools(req, provider, hasToolBlocks(body.messages as Msg[]));
  if (tools) body.toolConfig = tools;
  return body;
}

/** Converse wants turns that alternate: consecutive turns of one role become one. */
export function converseMessages(contents: readonly Content[], provider: string): Msg[] {
  const ids = toolCallIds(contents, provider);
  const out: Msg[] = [];
  for (const c of contents) {
    const role = c.role === "model" ? "assistant" : "user";
    const content = role === "assistant" ? assistantBlocks(c, ids, provider) : userBlocks(c, ids, provider);
    if (!content.length) continue;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...content);
    else out.push({ role, content });
  }
  return out;
}

function assistantBlocks(c: Content, ids: Map<Part, string>, provider: string): Block[] {
  const out: Block[] = [];
  let thought = "";
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind !== "thought") thought = "";
    if (kind === "text" && p.text) out.push({ text: p.text });
    else if (kind === "thought") {
      // Reasoning goes back only with its signature (as Claude requires); a streamed thought is joined first.
      thought += p.text ?? "";
      if (p.thoughtSignature) {
        out.push({ reasoningContent: { reasoningText: { text: thought, signature: p.thoughtSignature } } });
        thought = "";
      }
    } else if (kind === "functionCall") {
      out.push({ toolUse: { toolUseId: ids.get(p), name: p.functionCall!.name, input: p.functionCall!.args ?? {} } });
    } else if (kind === "inlineData" || kind === "fileData" || kind === "functionResponse") {
      throw badRequest(`${provider}: a model turn cannot hold ${kind} parts`);
    }
  }
  return out;
}

function userBlocks(c: Content, ids: Map<Part, string>, provider: string): Block[] {
  const results: Block[] = [];
  const rest: Block[] = [];
  const docs = { n: 0 };
  for (const p of c.parts) {
    const kind = partKind(p, provider);
    if (kind === "functionResponse") {
      const r = p.functionResponse!.response;
      const isObject = !!r && typeof r === "object" && !Array.isArray(r);
      const failed = isObject && Object.keys(r).length === 1 && "error" in r;
      results.push({
        toolResult: {
          toolUseId: ids.get(p),
          content: [isObject ? { json: r } : { text: typeof r === "string" ? r : JSON.stringify(r ?? null) }],
          ...(failed ? { status: "error" } : {}),
        },
      });
    } else if (kind === "text" && p.text) rest.push({ text: p.text });
    else if (kind === "inlineData") rest.push(inlineBlock(p.inlineData!, provider, docs));
    else if (kind === "fileData") {
      throw badRequest(`${provider}: fileData is not supported (Bedrock reads media inline or from S3); send inlineData (${fileMime(p.fileData!) ?? "unknown type"})`);
    } else if (kind === "functionCall") throw badRequest(`${provider}: a user turn cannot hold functionCall parts`);
  }
  // Tool results answer the calls of the turn before: they come first.
  return [...results, ...rest];
}

function inlineBlock(d: { mimeType: string; data: string }, provider: string, docs: { n: number }): Block {
  const mime = normalMime(d.mimeType);
  switch (mediaKind(mime)) {
    case "image":
      return { image: { format: IMAGE_FORMATS[mime], source: { bytes: d.data } } };
    case "pdf":
      // Converse requires a document name: neutral, unique within the request.
      return { document: { format: "pdf", name: `document-${++docs.n}`, source: { bytes: d.data } } };
    case "text":
      return { text: base64Text(d.data) };
  }
  throw badRequest(`${provider}: inlineData of type "${d.mimeType}" is not supported (images, PDF and text are)`);
}

function hasToolBlocks(messages: Msg[]): boolean {
  return messages.some((m) => m.content.some((b) => b.toolUse || b.toolResult));
}

/**
 * Function declarations → `toolConfig`. Mode NONE has no Converse equivalent: tools are left out, unless the
 * conversation already holds tool blocks (Converse then requires toolConfig), in which case they are kept with
 * the default (auto) choice.
 */
export function converseTools(req: Pick<GenerateContentRequest, "tools" | "toolConfig">, provider: string, historyHasTools: boolean) {
  const { decls, mode, forced } = functionCalling(req, provider);
  if (!decls.length || (mode === "NONE" && !historyHasTools)) return undefined;
  const tools = decls.map((d) => ({ toolSpec: { name: d.name, ...(d.description ? { description: d.description } : {}), inputSchema: { json: d.schema } } }));
  const out: Record<string, unknown> = { tools };
  if (mode === "ANY") out.toolChoice = forced ? { tool: { name: forced } } : { any: {} };
  else if (mode === "AUTO") out.toolChoice = { auto: {} };
  return out;
}
