/** Gemini → Converse request bodies, and Converse answers → Gemini: the field tables of docs/providers.md. */
import { describe, expect, it } from "vitest";
import type { GenerateContentRequest } from "../../../src/gemini/schema";
import { converseBody } from "../../../src/providers/bedrock/request";
import { converseResponse } from "../../../src/providers/bedrock/response";
import { BILLING, type BilledUsage } from "../../../src/usage/cost";

const PNG = "iVBORw0KGgo=";
const body = (req: Partial<GenerateContentRequest>, model = "amazon.nova-pro-v1:0") =>
  converseBody(model, { contents: [{ role: "user", parts: [{ text: "hi" }] }], ...req } as GenerateContentRequest, "bedrock");

describe("converseBody", () => {
  it("media inline (image, PDF, text), turns of one role joined, tool results first in their turn", () => {
    const b = body({
      contents: [
        { role: "user", parts: [{ text: "look" }, { inlineData: { mimeType: "image/jpg", data: PNG } }, { inlineData: { mimeType: "application/pdf", data: "JVBER" } }] },
        { role: "user", parts: [{ inlineData: { mimeType: "text/plain", data: btoa("notes") } }] },
        { role: "model", parts: [{ text: "thinking", thought: true }, { text: "", thought: true, thoughtSignature: "sig" }, { functionCall: { name: "f", args: { a: 1 } } }] },
        { role: "user", parts: [{ text: "and?" }, { functionResponse: { name: "f", response: { error: "boom" } } }] },
      ],
    });
    expect(b.messages).toEqual([
      { role: "user", content: [{ text: "look" }, { image: { format: "jpeg", source: { bytes: PNG } } }, { document: { format: "pdf", name: "document-1", source: { bytes: "JVBER" } } }, { text: "notes" }] },
      { role: "assistant", content: [{ reasoningContent: { reasoningText: { text: "thinking", signature: "sig" } } }, { toolUse: { toolUseId: "call_0", name: "f", input: { a: 1 } } }] },
      { role: "user", content: [{ toolResult: { toolUseId: "call_0", content: [{ json: { error: "boom" } }], status: "error" } }, { text: "and?" }] },
    ]);
  });

  it("JSON output is asked for in the system prompt; tool choice ANY with one name forces it; NONE drops tools", () => {
    const b = body({
      systemInstruction: "sys",
      generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { x: { type: "STRING" } } } },
      tools: [{ functionDeclarations: [{ name: "f" }, { name: "g" }] }],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["g"] } },
    });
    expect((b.system as { text: string }[])[0]!.text).toBe('sys\n\nRespond with a single valid JSON value that conforms to this JSON Schema, and nothing else:\n{"type":"object","properties":{"x":{"type":"string"}}}');
    expect(b.toolConfig).toEqual({ tools: [{ toolSpec: { name: "g", inputSchema: { json: { type: "object", properties: {} } } } }], toolChoice: { tool: { name: "g" } } });
    expect(body({ tools: [{ functionDeclarations: [{ name: "f" }] }], toolConfig: { functionCallingConfig: { mode: "NONE" } } }).toolConfig).toBeUndefined();
  });

  it("thinking goes to Claude models as additionalModelRequestFields, without temperature; other models ignore it", () => {
    const req = { generationConfig: { temperature: 0.5, thinkingConfig: { thinkingBudget: 2000 } } };
    expect(body(req, "anthropic.claude-sonnet-4-5-20250929-v1:0")).toMatchObject({
      inferenceConfig: { maxTokens: 6096 }, additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 2000 } },
    });
    expect(body(req).additionalModelRequestFields).toBeUndefined();
    expect(body(req).inferenceConfig).toEqual({ temperature: 0.5 });
  });

  it("refuses what Converse cannot take, naming the provider", () => {
    expect(() => body({ contents: [{ role: "user", parts: [{ fileData: { fileUri: "https://x.test/a.png" } }] }] })).toThrow(/^bedrock: fileData is not supported/);
    expect(() => body({ generationConfig: { candidateCount: 2 } })).toThrow("bedrock: candidateCount above 1 is not supported");
    expect(() => body({ cachedContent: "cachedContents/x" })).toThrow(/^bedrock: cachedContent/);
  });
});

describe("converseResponse", () => {
  it("maps stop reasons and usage (cache reads and writes count in the prompt)", () => {
    const r = converseResponse({
      output: { message: { content: [{ reasoningContent: { reasoningText: { text: "hm", signature: "s" } } }, { text: "done" }] } },
      stopReason: "guardrail_intervened", usage: { inputTokens: 5, outputTokens: 2, cacheReadInputTokens: 10, cacheWriteInputTokens: 3 },
    }, "m");
    // What the caller sees (JSON): Gemini's fields only.
    expect(JSON.parse(JSON.stringify(r))).toEqual({
      candidates: [{ content: { role: "model", parts: [{ text: "hm", thought: true, thoughtSignature: "s" }, { text: "done" }] }, finishReason: "SAFETY", index: 0 }],
      modelVersion: "m",
      usageMetadata: { promptTokenCount: 18, candidatesTokenCount: 2, cachedContentTokenCount: 10, totalTokenCount: 20 },
    });
    // The writes are kept off the wire for the cost: 5-minute ones, as no cacheDetails says otherwise.
    expect((r.usageMetadata as BilledUsage)[BILLING]).toEqual({ cache_write: 3, cache_write_1h: 0 });
    expect(() => converseResponse({} as never, "m")).toThrow("not a Converse answer");
  });
});
