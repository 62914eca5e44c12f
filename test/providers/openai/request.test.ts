import { describe, expect, it } from "vitest";
import { GatewayError } from "../../../src/gemini/errors";
import type { GenerateContentRequest } from "../../../src/gemini/schema";
import { chatBody, embeddingsBody, imagesBody, reasoningEffort, type ChatOptions } from "../../../src/providers/openai/request";
import geminiReq from "../../fixtures/openai/chat-request.gemini.json";
import openaiReq from "../../fixtures/openai/chat-request.openai.json";

const O: ChatOptions = { provider: "openai", maxTokensField: "max_completion_tokens", streamUsage: true };
const req = (r: unknown) => r as GenerateContentRequest;
const user = (text: string) => ({ role: "user", parts: [{ text }] });

describe("openai chat request", () => {
  it("maps the golden Gemini request field by field", () => {
    expect(chatBody("gpt-4o-mini", req(geminiReq), false, O)).toEqual(openaiReq);
  });

  it("asks for usage in streams, and uses max_tokens for compatible hosts", () => {
    const b = chatBody("llama", req({ contents: [user("hi")], generationConfig: { maxOutputTokens: 9 } }), true, {
      ...O, maxTokensField: "max_tokens",
    });
    expect(b).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 9 });
    expect(b).not.toHaveProperty("max_completion_tokens");
    expect(chatBody("m", req({ contents: [user("hi")] }), true, { ...O, streamUsage: false })).not.toHaveProperty("stream_options");
  });

  it("converts responseSchema (OpenAPI style) to a json_schema response_format", () => {
    const b = chatBody("m", req({
      contents: [user("List cities")],
      generationConfig: {
        responseMimeType: "application/json",
        responseSchema: { type: "ARRAY", items: { type: "OBJECT", properties: { name: { type: "STRING" }, pop: { type: "INTEGER", nullable: true } }, required: ["name"] } },
      },
    }), false, O);
    expect(b.response_format).toEqual({
      type: "json_schema",
      json_schema: {
        name: "response", strict: false,
        schema: { type: "array", items: { type: "object", properties: { name: { type: "string" }, pop: { type: ["integer", "null"] } }, required: ["name"] } },
      },
    });
  });

  it("passes responseJsonSchema through and uses json_object without a schema (mentioning JSON once)", () => {
    const schema = { type: "object", properties: { a: { type: "number" } } };
    const b1 = chatBody("m", req({ contents: [user("x")], generationConfig: { responseMimeType: "application/json", responseJsonSchema: schema } }), false, O);
    expect((b1.response_format as any).json_schema.schema).toBe(schema);
    const b2 = chatBody("m", req({ contents: [user("x")], generationConfig: { responseMimeType: "application/json" } }), false, O);
    expect(b2.response_format).toEqual({ type: "json_object" });
    expect((b2.messages as any[])[0]).toEqual({ role: "system", content: "Respond in JSON." });
    const b3 = chatBody("m", req({ contents: [user("answer as JSON")], generationConfig: { responseMimeType: "application/json" } }), false, O);
    expect(b3.messages).toEqual([{ role: "user", content: "answer as JSON" }]);
  });

  it("maps toolConfig modes", () => {
    const tools = [{ functionDeclarations: [{ name: "a" }, { name: "b" }] }];
    const mode = (m: string, allowed?: string[]) =>
      chatBody("m", req({ contents: [user("x")], tools, toolConfig: { functionCallingConfig: { mode: m, allowedFunctionNames: allowed } } }), false, O);
    expect(mode("NONE").tool_choice).toBe("none");
    expect(mode("ANY").tool_choice).toBe("required");
    expect(mode("ANY", ["b"])).toMatchObject({ tool_choice: { type: "function", function: { name: "b" } }, tools: [{ function: { name: "b" } }] });
    expect((mode("ANY", ["a", "b"]).tools as unknown[]).length).toBe(2);
    expect(mode("AUTO").tool_choice).toBe("auto");
    // A declaration without parameters still gets an (empty) object schema.
    expect((mode("AUTO").tools as any[])[0].function.parameters).toEqual({ type: "object", properties: {} });
  });

  it("pairs functionResponses by id, and by name with the earliest unanswered call", () => {
    const b = chatBody("m", req({
      contents: [
        user("go"),
        { role: "model", parts: [{ functionCall: { name: "f", args: {} } }, { functionCall: { id: "given", name: "g", args: {} } }, { functionCall: { name: "f", args: { n: 2 } } }] },
        { role: "user", parts: [{ functionResponse: { id: "given", name: "g", response: { ok: 1 } } }, { functionResponse: { name: "f", response: { r: 1 } } }, { functionResponse: { name: "f", response: { r: 2 } } }] },
      ],
    }), false, O);
    const msgs = b.messages as any[];
    expect(msgs[1].tool_calls.map((t: any) => t.id)).toEqual(["call_0", "given", "call_2"]);
    expect(msgs.slice(2).map((m) => [m.role, m.tool_call_id, m.content])).toEqual([
      ["tool", "given", '{"ok":1}'], ["tool", "call_0", '{"r":1}'], ["tool", "call_2", '{"r":2}'],
    ]);
  });

  it("drops thought parts, and a model turn that held only thoughts", () => {
    const b = chatBody("m", req({
      contents: [user("a"), { role: "model", parts: [{ text: "t", thought: true }] }, { role: "model", parts: [{ text: "t", thought: true }, { text: "b" }] }, user("c")],
    }), false, O);
    expect(b.messages).toEqual([{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: "c" }]);
  });

  it("maps PDFs to file parts, text files to text, wav to input_audio", () => {
    const b = chatBody("m", req({
      contents: [{ role: "user", parts: [
        { inlineData: { mimeType: "application/pdf", data: "JVBERi0=" } },
        { inlineData: { mimeType: "text/plain", data: btoa("plain words") } },
        { inlineData: { mimeType: "audio/wav", data: "UklGRg==" } },
      ] }],
    }), false, O);
    expect((b.messages as any[])[0].content).toEqual([
      { type: "file", file: { filename: "document.pdf", file_data: "data:application/pdf;base64,JVBERi0=" } },
      { type: "text", text: "plain words" },
      { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
    ]);
  });

  it.each([
    ["an unsupported mime type", { contents: [{ role: "user", parts: [{ inlineData: { mimeType: "video/mp4", data: "AA" } }] }] }, /video\/mp4/],
    ["a gs:// file", { contents: [{ role: "user", parts: [{ fileData: { mimeType: "image/png", fileUri: "gs://b/x.png" } }] }] }, /fileData/],
    ["a response with no call", { contents: [{ role: "user", parts: [{ functionResponse: { name: "f", response: {} } }] }] }, /functionResponse "f"/],
    ["a Google Search tool", { contents: [user("x")], tools: [{ googleSearch: {} }] }, /googleSearch/],
    ["an executableCode part", { contents: [{ role: "model", parts: [{ executableCode: { code: "1" } }] }] }, /executableCode/],
    ["an enum mime type", { contents: [user("x")], generationConfig: { responseMimeType: "text/x.enum" } }, /text\/x\.enum/],
    ["cachedContent", { contents: [user("x")], cachedContent: "cachedContents/abc" }, /cachedContent/],
  ])("answers 400 for %s", (_, body, msg) => {
    let err: unknown;
    try {
      chatBody("m", req(body), false, O);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(400);
    expect((err as GatewayError).message).toMatch(msg);
  });

  it("maps thinking budgets and levels to reasoning_effort", () => {
    expect(reasoningEffort({ thinkingBudget: 0 })).toBe("minimal");
    expect(reasoningEffort({ thinkingBudget: 2048 })).toBe("low");
    expect(reasoningEffort({ thinkingBudget: 8192 })).toBe("medium");
    expect(reasoningEffort({ thinkingBudget: 32768 })).toBe("high");
    expect(reasoningEffort({ thinkingBudget: -1 })).toBeUndefined();
    expect(reasoningEffort({ thinkingLevel: "HIGH" })).toBe("high");
    expect(reasoningEffort(undefined)).toBeUndefined();
  });

  it("sends reasoning_effort only to models that take it, and `minimal` only where it exists", () => {
    const gated: ChatOptions = { ...O, reasoning: { models: /^(o\d|gpt-5)/, minimal: /^gpt-5/ } };
    const effort = (model: string, budget: number, o = gated) =>
      chatBody(model, req({ contents: [user("x")], generationConfig: { thinkingConfig: { thinkingBudget: budget } } }), false, o).reasoning_effort;
    expect(effort("gpt-4o-mini", 0)).toBeUndefined();
    expect(effort("gpt-4.1", 8192)).toBeUndefined();
    expect(effort("o4-mini", 0)).toBe("low");
    expect(effort("o4-mini", 8192)).toBe("medium");
    expect(effort("gpt-5-mini", 0)).toBe("minimal");
    // A compatible host (no gating) gets what the thinking config asks.
    expect(effort("llama-3.3-70b", 0, O)).toBe("minimal");
  });
});

describe("openai embeddings and images requests", () => {
  it("maps outputDimensionality to dimensions and batches inputs in order", () => {
    expect(embeddingsBody("text-embedding-3-small", [
      { content: { parts: [{ text: "a" }] }, outputDimensionality: 256 },
      { content: { parts: [{ text: "b" }, { text: "c" }] }, outputDimensionality: 256 },
    ], "openai")).toEqual({ model: "text-embedding-3-small", input: ["a", "bc"], encoding_format: "float", dimensions: 256 });
    expect(() => embeddingsBody("m", [
      { content: { parts: [{ text: "a" }] }, outputDimensionality: 256 },
      { content: { parts: [{ text: "b" }] } },
    ], "openai")).toThrow(/outputDimensionality/);
  });

  it("maps sampleCount and aspect ratio; b64_json only for DALL·E", () => {
    expect(imagesBody("dall-e-3", { instances: [{ prompt: "a cat" }], parameters: { sampleCount: 1, aspectRatio: "16:9" } }, "openai"))
      .toEqual({ model: "dall-e-3", prompt: "a cat", n: 1, size: "1792x1024", response_format: "b64_json" });
    expect(imagesBody("gpt-image-1", { instances: [{ prompt: "a cat" }], parameters: { sampleCount: 2, aspectRatio: "3:4", outputOptions: { mimeType: "image/jpeg" } } }, "openai"))
      .toEqual({ model: "gpt-image-1", prompt: "a cat", n: 2, size: "1024x1536", output_format: "jpeg" });
    expect(() => imagesBody("dall-e-3", { instances: [{ prompt: "x" }], parameters: { aspectRatio: "21:9" } }, "openai")).toThrow(/21:9/);
  });
});
