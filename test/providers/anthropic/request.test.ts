import { describe, expect, it } from "vitest";
import { GatewayError } from "../../../src/gemini/errors";
import type { GenerateContentRequest } from "../../../src/gemini/schema";
import { countTokensBody, DEFAULT_MAX_TOKENS, jsonMode, messagesBody } from "../../../src/providers/anthropic/request";
import geminiReq from "../../fixtures/anthropic/messages-request.gemini.json";
import anthropicReq from "../../fixtures/anthropic/messages-request.anthropic.json";

const req = (r: unknown) => r as GenerateContentRequest;
const user = (text: string) => ({ role: "user", parts: [{ text }] });
const body = (r: unknown, stream = false) => messagesBody("claude-sonnet-4-5", req(r), stream, "anthropic");

describe("anthropic messages request", () => {
  it("maps the golden Gemini request field by field (penalties and seed dropped)", () => {
    expect(body(geminiReq)).toEqual(anthropicReq);
  });

  it("defaults max_tokens, accepts a string systemInstruction, streams on request", () => {
    expect(body({ contents: [user("hi")], systemInstruction: "Be brief." }, true)).toEqual({
      model: "claude-sonnet-4-5", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      system: "Be brief.", max_tokens: DEFAULT_MAX_TOKENS, stream: true,
    });
  });

  it("enables thinking with a budget, drops sampling params Anthropic refuses with it, makes room for the answer", () => {
    const b = body({ contents: [user("x")], generationConfig: { temperature: 0.5, topK: 3, thinkingConfig: { thinkingBudget: 2000 } } });
    expect(b).toMatchObject({ thinking: { type: "enabled", budget_tokens: 2000 }, max_tokens: 6096 });
    expect(b).not.toHaveProperty("temperature");
    expect(b).not.toHaveProperty("top_k");
    // Budget clamped below max_tokens; level names map to budgets; 0 turns thinking off.
    expect(body({ contents: [user("x")], generationConfig: { maxOutputTokens: 3000, thinkingConfig: { thinkingBudget: 5000 } } }))
      .toMatchObject({ thinking: { budget_tokens: 2999 }, max_tokens: 3000 });
    expect(body({ contents: [user("x")], generationConfig: { thinkingConfig: { thinkingLevel: "low" } } }).thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
    expect(body({ contents: [user("x")], generationConfig: { thinkingConfig: { thinkingBudget: 0 } } })).not.toHaveProperty("thinking");
    expect(() => body({ contents: [user("x")], generationConfig: { maxOutputTokens: 500, thinkingConfig: { thinkingBudget: 2000 } } })).toThrow(/maxOutputTokens/);
  });

  it("obtains JSON with a schema through a forced tool", () => {
    const r = { contents: [user("a city")], generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { name: { type: "STRING" } } } } };
    const b = body(r);
    expect(b.tools).toEqual([{ name: "json_response", description: "Give the answer as this tool's input.", input_schema: { type: "object", properties: { name: { type: "string" } } } }]);
    expect(b.tool_choice).toEqual({ type: "tool", name: "json_response" });
    // A non-object schema is wrapped, since tool input must be an object.
    const arr = body({ contents: [user("x")], generationConfig: { responseJsonSchema: { type: "array", items: { type: "string" } } } });
    expect((arr.tools as any[])[0].input_schema).toEqual({ type: "object", properties: { value: { type: "array", items: { type: "string" } } }, required: ["value"] });
  });

  it("falls back to a system instruction for JSON when a tool cannot be forced, or without a schema", () => {
    const noSchema = body({ contents: [user("x")], systemInstruction: { parts: [{ text: "S" }] }, generationConfig: { responseMimeType: "application/json" } });
    expect(noSchema.system).toBe("S\n\nRespond with a single valid JSON value and nothing else.");
    const withTools = { contents: [user("x")], tools: [{ functionDeclarations: [{ name: "f" }] }], generationConfig: { responseJsonSchema: { type: "object" } } };
    expect(jsonMode(req(withTools))?.kind).toBe("system");
    expect(body(withTools).system).toContain('{"type":"object"}');
    expect(body(withTools).tool_choice).toBeUndefined();
    const thinking = { contents: [user("x")], generationConfig: { responseJsonSchema: { type: "object" }, thinkingConfig: { thinkingBudget: 2048 } } };
    expect(jsonMode(req(thinking))?.kind).toBe("system");
  });

  it("sends signed thoughts back as thinking blocks, drops unsigned ones, marks error results", () => {
    const b = body({
      contents: [
        user("go"),
        { role: "model", parts: [{ text: "hm", thought: true, thoughtSignature: "sig" }, { text: "unsigned", thought: true }, { functionCall: { name: "f", args: { a: 1 } } }] },
        { role: "user", parts: [{ functionResponse: { name: "f", response: { error: "boom" } } }] },
      ],
    });
    expect((b.messages as any[]).slice(1)).toEqual([
      { role: "assistant", content: [{ type: "thinking", thinking: "hm", signature: "sig" }, { type: "tool_use", id: "call_0", name: "f", input: { a: 1 } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "call_0", content: '{"error":"boom"}', is_error: true }] },
    ]);
  });

  it("joins a streamed thinking block (thought parts, signature on the last) back into one signed block", () => {
    const b = body({
      contents: [
        user("go"),
        { role: "model", parts: [
          { text: "Let me ", thought: true }, { text: "think.", thought: true }, { text: "", thought: true, thoughtSignature: "sig-1" },
          { text: "Answer." },
        ] },
        user("more"),
      ],
    });
    expect((b.messages as any[])[1]).toEqual({
      role: "assistant",
      content: [{ type: "thinking", thinking: "Let me think.", signature: "sig-1" }, { type: "text", text: "Answer." }],
    });
  });

  it("drops thinking for a forced tool call (Anthropic allows only auto/none while thinking)", () => {
    const tools = [{ functionDeclarations: [{ name: "a" }] }];
    const forced = body({
      contents: [user("x")], tools, toolConfig: { functionCallingConfig: { mode: "ANY" } },
      generationConfig: { thinkingConfig: { thinkingBudget: 2048 }, temperature: 0.5 },
    });
    expect(forced.thinking).toBeUndefined();
    expect(forced.tool_choice).toEqual({ type: "any" });
    expect(forced.temperature).toBe(0.5);
    const auto = body({ contents: [user("x")], tools, generationConfig: { thinkingConfig: { thinkingBudget: 2048 } } });
    expect(auto.thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
  });

  it("clamps temperature to Anthropic's 0..1", () => {
    expect(body({ contents: [user("x")], generationConfig: { temperature: 1.6 } }).temperature).toBe(1);
    expect(body({ contents: [user("x")], generationConfig: { temperature: 0.3 } }).temperature).toBe(0.3);
  });

  it("maps NONE, AUTO and ANY without names", () => {
    const tools = [{ functionDeclarations: [{ name: "a" }, { name: "b" }] }];
    const choice = (mode: string) => body({ contents: [user("x")], tools, toolConfig: { functionCallingConfig: { mode } } }).tool_choice;
    expect(choice("NONE")).toEqual({ type: "none" });
    expect(choice("AUTO")).toEqual({ type: "auto" });
    expect(choice("ANY")).toEqual({ type: "any" });
  });

  it.each([
    ["candidateCount 2", { contents: [user("x")], generationConfig: { candidateCount: 2 } }, /candidateCount/],
    ["audio", { contents: [{ role: "user", parts: [{ inlineData: { mimeType: "audio/wav", data: "AA" } }] }] }, /audio\/wav/],
    ["an image in a model turn", { contents: [{ role: "model", parts: [{ inlineData: { mimeType: "image/png", data: "AA" } }] }] }, /model turn/],
  ])("answers 400 for %s", (_, r, msg) => {
    let err: unknown;
    try {
      body(r);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(400);
    expect((err as GatewayError).message).toMatch(msg);
  });

  it("builds a count_tokens body from contents or a generateContentRequest", () => {
    expect(countTokensBody("claude-haiku-4-5", { contents: [user("hi")] }, "anthropic"))
      .toEqual({ model: "claude-haiku-4-5", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] });
    const b = countTokensBody("m", {
      generateContentRequest: { contents: [user("hi")], systemInstruction: { parts: [{ text: "S" }] }, tools: [{ functionDeclarations: [{ name: "f" }] }] },
    } as never, "anthropic");
    expect(b).toMatchObject({ system: "S", tools: [{ name: "f", input_schema: { type: "object", properties: {} } }] });
  });
});
