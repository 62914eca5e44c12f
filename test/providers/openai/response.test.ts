import { describe, expect, it } from "vitest";
import { chatResponse, embeddingsResponse, imagesResponse, usageMetadata } from "../../../src/providers/openai/response";
import completion from "../../fixtures/openai/chat-completion.json";
import expected from "../../fixtures/openai/chat-completion.gemini.json";

describe("openai chat response", () => {
  it("maps the golden completion: candidates, tool calls, usage with cached and reasoning tokens", () => {
    expect(chatResponse(completion as never)).toEqual(expected);
  });

  it.each([
    ["stop", "STOP"], ["length", "MAX_TOKENS"], ["content_filter", "SAFETY"], ["tool_calls", "STOP"], ["weird", "OTHER"],
  ])("finish_reason %s → %s", (r, g) => {
    const out = chatResponse({ choices: [{ index: 0, message: { content: "x" }, finish_reason: r }] });
    expect(out.candidates![0]!.finishReason).toBe(g);
  });

  it("puts reasoning_content first as a thought, maps refusals to SAFETY and bad tool JSON to MALFORMED_FUNCTION_CALL", () => {
    const r = chatResponse({
      choices: [
        { index: 0, message: { reasoning_content: "think", content: "answer" }, finish_reason: "stop" },
        { index: 1, message: { content: null, refusal: "I can't help with that." }, finish_reason: "stop" },
        { index: 2, message: { tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{bad" } }] }, finish_reason: "tool_calls" },
      ],
    });
    expect(r.candidates![0]!.content!.parts).toEqual([{ text: "think", thought: true }, { text: "answer" }]);
    expect(r.candidates![1]).toMatchObject({ finishReason: "SAFETY", content: { parts: [{ text: "I can't help with that." }] } });
    expect(r.candidates![2]).toMatchObject({ finishReason: "MALFORMED_FUNCTION_CALL", content: { parts: [] } });
  });

  it("keeps Gemini's usage invariants: cached inside prompt, thoughts outside candidates", () => {
    expect(usageMetadata({ prompt_tokens: 10, completion_tokens: 7, total_tokens: 17 }))
      .toEqual({ promptTokenCount: 10, candidatesTokenCount: 7, totalTokenCount: 17 });
    const u = usageMetadata({ prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, prompt_tokens_details: { cached_tokens: 60 }, completion_tokens_details: { reasoning_tokens: 30 } });
    expect(u.candidatesTokenCount! + u.thoughtsTokenCount! + u.promptTokenCount!).toBe(u.totalTokenCount);
    expect(u.cachedContentTokenCount).toBe(60);
  });

  it("throws on a body that is not a completion", () => {
    expect(() => chatResponse({} as never)).toThrow(/choices/);
  });
});

describe("openai embeddings and images responses", () => {
  it("orders embeddings by index and reports input tokens", () => {
    const e = { object: "list", data: [{ object: "embedding", index: 1, embedding: [0.3] }, { object: "embedding", index: 0, embedding: [0.1, 0.2] }], model: "text-embedding-3-small", usage: { prompt_tokens: 8, total_tokens: 8 } };
    expect(embeddingsResponse(e, true)).toEqual({ embeddings: [{ values: [0.1, 0.2] }, { values: [0.3] }], usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } });
    expect(embeddingsResponse({ data: [{ index: 0, embedding: [1] }] }, false)).toEqual({ embedding: { values: [1] } });
  });

  it("maps images to predictions", () => {
    expect(imagesResponse({ data: [{ b64_json: "AAA" }, { b64_json: "BBB" }] })).toEqual({
      predictions: [{ bytesBase64Encoded: "AAA", mimeType: "image/png" }, { bytesBase64Encoded: "BBB", mimeType: "image/png" }],
    });
    expect(imagesResponse({ data: [{ b64_json: "J" }], output_format: "jpeg" }).predictions).toEqual([{ bytesBase64Encoded: "J", mimeType: "image/jpeg" }]);
  });
});
