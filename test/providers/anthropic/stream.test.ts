import { describe, expect, it } from "vitest";
import { anthropicStream } from "../../../src/providers/anthropic/stream";
import { StreamedUpstreamError } from "../../../src/gemini/errors";
import { byteOffset, runStream, splitBytes } from "../../helpers/stream";
import expected from "../../fixtures/anthropic/messages-stream.gemini.json";
import sse from "../../fixtures/anthropic/messages-stream.sse?raw";

const run = (text: string, cuts: number[] = [], json?: { name: string; unwrap: boolean }) => runStream(anthropicStream(json), splitBytes(text, cuts));
const ev = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;

describe("anthropic stream translation", () => {
  it("translates the golden stream", async () => {
    expect(await run(sse)).toEqual(expected);
  });

  it("is unaffected by awkward splits: inside a JSON string, a UTF-8 char, mid `data:`, between \\r and \\n", async () => {
    expect(await run(sse, [byteOffset(sse, '\\"Pa', 3), byteOffset(sse, "é", 1), byteOffset(sse, "data:", 2, 3)])).toEqual(expected);
    const crlf = sse.replaceAll("\n", "\r\n");
    expect(await run(crlf, [byteOffset(crlf, "\r\n\r\n", 1, 2), byteOffset(crlf, "\r\n\r\n", 3, 5), byteOffset(crlf, "\r\n", 1, 0)])).toEqual(expected);
  });

  it("gives the same chunks for every single split point", async () => {
    const len = new TextEncoder().encode(sse).length;
    for (let cut = 1; cut < len; cut += 9) expect(await run(sse, [cut])).toEqual(expected);
  });

  it("streams the forced JSON tool's input as text fragments", async () => {
    const text = ev("message_start", { message: { id: "m1", model: "claude", usage: { input_tokens: 5, output_tokens: 1 } } })
      + ev("content_block_start", { index: 0, content_block: { type: "tool_use", id: "t", name: "json_response", input: {} } })
      + ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: '{"a":' } })
      + ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "1}" } })
      + ev("content_block_stop", { index: 0 })
      + ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 7 } })
      + ev("message_stop", {});
    const out = await run(text, [], { name: "json_response", unwrap: false });
    expect(out.map((c) => c.candidates![0]!.content!.parts)).toEqual([[{ text: '{"a":' }], [{ text: "1}" }], []]);
    expect(out.at(-1)).toMatchObject({ candidates: [{ finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 7, totalTokenCount: 12 } });
  });

  it("reports a broken tool input as MALFORMED_FUNCTION_CALL in the last chunk", async () => {
    const text = ev("message_start", { message: { id: "m1", model: "c", usage: { input_tokens: 1, output_tokens: 1 } } })
      + ev("content_block_start", { index: 0, content_block: { type: "tool_use", id: "t", name: "f", input: {} } })
      + ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: '{"a":' } })
      + ev("content_block_stop", { index: 0 })
      + ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 3 } });
    const out = await run(text);
    expect(out).toHaveLength(1);
    expect(out[0]!.candidates![0]!.finishReason).toBe("MALFORMED_FUNCTION_CALL");
  });

  it("throws a streamed upstream error for an `error` event", async () => {
    const text = ev("message_start", { message: { id: "m1", model: "c", usage: { input_tokens: 1 } } })
      + ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } })
      + ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } })
      + ev("error", { error: { type: "overloaded_error", message: "Overloaded" } });
    const err = await run(text).catch((e) => e);
    expect(err).toBeInstanceOf(StreamedUpstreamError);
    expect(err.body).toEqual({ error: { code: 503, message: "Overloaded" } });
  });
});
