import { describe, expect, it } from "vitest";
import { errorCode, messageResponse, usageMetadata } from "../../../src/providers/anthropic/response";
import { BILLING } from "../../../src/usage/cost";
import message from "../../fixtures/anthropic/message.json";
import expected from "../../fixtures/anthropic/message.gemini.json";

describe("anthropic message response", () => {
  it("maps the golden message: thinking, text, tool use, cache-aware usage", () => {
    // The cache writes travel beside Gemini's fields, under a symbol the answer's JSON never shows.
    expect(messageResponse(message as never)).toEqual({ ...expected, usageMetadata: { ...expected.usageMetadata, [BILLING]: { cache_write: 200, cache_write_1h: 0 } } });
    expect(JSON.parse(JSON.stringify(messageResponse(message as never)))).toEqual(expected);
  });

  it.each([
    ["end_turn", "STOP"], ["stop_sequence", "STOP"], ["tool_use", "STOP"], ["max_tokens", "MAX_TOKENS"], ["refusal", "SAFETY"], ["new_reason", "OTHER"],
  ])("stop_reason %s → %s", (r, g) => {
    expect(messageResponse({ content: [{ type: "text", text: "x" }], stop_reason: r }).candidates![0]!.finishReason).toBe(g);
  });

  it("counts cache reads and writes into the prompt (Anthropic's input_tokens excludes them)", () => {
    expect(usageMetadata({ input_tokens: 10, output_tokens: 5 })).toEqual({ promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 });
    expect(usageMetadata({ input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 5 }))
      .toEqual({ promptTokenCount: 130, candidatesTokenCount: 5, cachedContentTokenCount: 100, totalTokenCount: 135, [BILLING]: { cache_write: 20, cache_write_1h: 0 } });
  });

  it("turns the forced JSON tool into the text answer, unwrapping non-object schemas", () => {
    const m = (input: unknown) => ({ content: [{ type: "tool_use", id: "t", name: "json_response", input }], stop_reason: "tool_use" });
    expect(messageResponse(m({ name: "Paris" }), { name: "json_response", unwrap: false }).candidates![0]!.content!.parts).toEqual([{ text: '{"name":"Paris"}' }]);
    expect(messageResponse(m({ value: ["a", "b"] }), { name: "json_response", unwrap: true }).candidates![0]!.content!.parts).toEqual([{ text: '["a","b"]' }]);
    // Without JSON mode the same block is an ordinary function call.
    expect(messageResponse(m({ x: 1 })).candidates![0]!.content!.parts).toEqual([{ functionCall: { id: "t", name: "json_response", args: { x: 1 } } }]);
  });

  it("maps error types to HTTP codes", () => {
    expect(errorCode("overloaded_error")).toBe(503);
    expect(errorCode("rate_limit_error")).toBe(429);
    expect(errorCode("invalid_request_error")).toBe(400);
    expect(errorCode(undefined)).toBe(500);
  });
});
