import { describe, expect, it } from "vitest";
import { StreamedUpstreamError } from "../../../src/gemini/errors";
import { openaiStream } from "../../../src/providers/openai/stream";
import { byteOffset, runStream, splitBytes } from "../../helpers/stream";
import expected from "../../fixtures/openai/chat-stream.gemini.json";
import sse from "../../fixtures/openai/chat-stream.sse?raw";

const run = (text: string, cuts: number[] = []) => runStream(openaiStream(), splitBytes(text, cuts));

describe("openai stream translation", () => {
  it("translates the golden stream", async () => {
    expect(await run(sse)).toEqual(expected);
  });

  it("is unaffected by awkward network splits: inside a JSON string, inside a UTF-8 char, mid `data:`", async () => {
    const cuts = [
      byteOffset(sse, 'wor\\"ld', 2), // between `wor` and `\"`
      byteOffset(sse, "é", 1), // between the two bytes of é
      byteOffset(sse, "data:", 3, 4), // `dat|a:`
      byteOffset(sse, "Paris", 2),
    ];
    expect(await run(sse, cuts)).toEqual(expected);
  });

  it("handles CRLF framing split between \\r and \\n", async () => {
    const crlf = sse.replaceAll("\n", "\r\n");
    const cuts = [byteOffset(crlf, "\r\n\r\n", 1, 1), byteOffset(crlf, "\r\n\r\n", 3, 2), byteOffset(crlf, "\r\n", 1, 7)];
    expect(await run(crlf, cuts)).toEqual(expected);
  });

  it("gives the same chunks for every single split point", async () => {
    const len = new TextEncoder().encode(sse).length;
    for (let cut = 1; cut < len; cut += 7) expect(await run(sse, [cut])).toEqual(expected);
  });

  it("emits text as it arrives, before the stream ends", () => {
    const t = openaiStream();
    const out = t.event({ data: JSON.stringify({ id: "x", model: "m", choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }) });
    expect(out).toEqual([{ candidates: [{ content: { role: "model", parts: [{ text: "Hi" }] }, index: 0 }], modelVersion: "m", responseId: "x" }]);
  });

  it("flushes finish reasons at the end when the host sends no usage chunk, per candidate", async () => {
    const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
    const text = ev({ id: "a", model: "m", choices: [{ index: 0, delta: { reasoning_content: "hmm" } }, { index: 1, delta: { content: "B" } }] })
      + ev({ choices: [{ index: 0, delta: { content: "A" }, finish_reason: "length" }, { index: 1, delta: {}, finish_reason: "stop" }] })
      + "data: [DONE]\n\n";
    const out = await run(text);
    expect(out.map((c) => c.candidates)).toEqual([
      [{ content: { role: "model", parts: [{ text: "hmm", thought: true }] }, index: 0 }, { content: { role: "model", parts: [{ text: "B" }] }, index: 1 }],
      [{ content: { role: "model", parts: [{ text: "A" }] }, index: 0 }],
      [{ content: { role: "model", parts: [] }, finishReason: "MAX_TOKENS", index: 0 }, { content: { role: "model", parts: [] }, finishReason: "STOP", index: 1 }],
    ]);
  });

  it("assembles a tool call whose fragments omit index and repeat the name, with running usage mid-call", () => {
    const t = openaiStream();
    const ev = (o: unknown) => t.event({ data: JSON.stringify({ id: "x", model: "m", ...(o as object) }) });
    const delta = (tool: unknown, extra: object = {}) => ({ choices: [{ index: 0, delta: { tool_calls: [tool] }, finish_reason: null }], ...extra });
    const usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
    const out = [
      ...ev(delta({ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"ci' } })),
      ...ev(delta({ function: { name: "get_weather", arguments: 'ty":"Par' } }, { usage })),
      ...ev(delta({ function: { arguments: 'is"}' } })),
      ...ev({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }], usage: { ...usage, completion_tokens: 9, total_tokens: 14 } }),
      ...t.end(),
    ];
    const parts = out.flatMap((c) => c.candidates ?? []).flatMap((c) => c.content?.parts ?? []);
    expect(parts).toEqual([{ functionCall: { id: "call_1", name: "get_weather", args: { city: "Paris" } } }]);
    const last = out.at(-1)!;
    expect(last.candidates!.at(-1)!.finishReason).toBe("STOP");
    expect(last.usageMetadata).toMatchObject({ promptTokenCount: 5, candidatesTokenCount: 9, totalTokenCount: 14 });
  });

  it("throws a streamed upstream error for an error event mid-stream", async () => {
    const text = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "x" } }] })}\n\n`
      + `data: ${JSON.stringify({ error: { message: "Rate limit reached", type: "rate_limit_exceeded", code: "rate_limit_exceeded" } })}\n\n`;
    const err = await run(text).catch((e) => e);
    expect(err).toBeInstanceOf(StreamedUpstreamError);
    expect(err.body).toEqual({ error: { code: 429, message: "Rate limit reached" } });
  });
});
