/** The AWS event-stream decoder and the ConverseStream translator, with frames split at every byte boundary. */
import { describe, expect, it } from "vitest";
import { crc32, eventStreamEvents, MAX_MESSAGE_BYTES } from "../../../src/providers/bedrock/eventstream";
import { parserStream } from "../../../src/streaming/parser";
import { converseDecoder } from "../../../src/providers/bedrock/stream";
import type { GenerateContentResponse } from "../../../src/gemini/schema";
import type { ProviderCall } from "../../../src/providers/types";
import { concatBytes, converseEvent, converseException, converseToolStream, frame } from "../../helpers/eventstream";

function body(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of pieces) c.enqueue(p);
      c.close();
    },
  });
}

async function readAll<T>(s: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const r = s.getReader();
  for (;;) {
    const x = await r.read();
    if (x.done) return out;
    out.push(x.value);
  }
}

const messages = (pieces: Uint8Array[]) => readAll(body(pieces).pipeThrough(parserStream(eventStreamEvents())));
const CALL: ProviderCall = { action: "streamGenerateContent", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", version: "v1beta", body: { contents: [] } };
const gemini = (pieces: Uint8Array[]) => readAll(converseDecoder(body(pieces), CALL, () => {}).chunks);

describe("event-stream decoder", () => {
  it("computes CRC-32 as IEEE 802.3 does", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("decodes the same messages however the bytes are split (every single cut, then every byte apart)", async () => {
    const bytes = concatBytes([converseEvent("messageStart", { role: "assistant" }), converseEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "héllo ✓" } })]);
    const whole = await messages([bytes]);
    expect(whole.map((m) => m.headers[":event-type"])).toEqual(["messageStart", "contentBlockDelta"]);
    expect(JSON.parse(new TextDecoder().decode(whole[1]!.payload)).delta.text).toBe("héllo ✓");
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await messages([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(whole);
    }
    expect(await messages([...bytes].map((b) => Uint8Array.of(b)))).toEqual(whole);
  });

  it("reads every header type by its size and keeps the string ones", async () => {
    const enc = new TextEncoder();
    // name, then type byte and value: bool true, byte, short, int, long, bytes, timestamp, uuid, string.
    const h = (name: string, type: number, value: number[]) => [enc.encode(name).length, ...enc.encode(name), type, ...value];
    const headers = [
      ...h("t", 0, []), ...h("b", 2, [1]), ...h("s", 3, [0, 2]), ...h("i", 4, [0, 0, 0, 3]), ...h("l", 5, Array(8).fill(0)),
      ...h("x", 6, [0, 2, 9, 9]), ...h("ts", 8, Array(8).fill(1)), ...h("u", 9, Array(16).fill(2)), ...h(":event-type", 7, [0, 2, 104, 105]),
    ];
    const total = 12 + headers.length + 2 + 4;
    const m = new Uint8Array(total);
    const v = new DataView(m.buffer);
    v.setUint32(0, total);
    v.setUint32(4, headers.length);
    v.setUint32(8, crc32(m.subarray(0, 8)));
    m.set(headers, 12);
    m.set([123, 125], 12 + headers.length);
    v.setUint32(total - 4, crc32(m.subarray(0, total - 4)));
    const [msg] = await messages([m]);
    expect(msg!.headers).toEqual({ ":event-type": "hi" });
    expect(new TextDecoder().decode(msg!.payload)).toBe("{}");
  });

  it("refuses corrupt or hostile framing instead of buffering it", async () => {
    const good = converseEvent("messageStart", { role: "assistant" });
    const badPrelude = good.slice();
    badPrelude[9]! ^= 1;
    await expect(messages([badPrelude])).rejects.toThrow("prelude checksum mismatch");
    const badMessage = good.slice();
    badMessage[good.length - 10]! ^= 1;
    await expect(messages([badMessage])).rejects.toThrow("message checksum mismatch");
    // A prelude announcing more than the cap is refused at once: the body is never awaited or held.
    const huge = new Uint8Array(12);
    const v = new DataView(huge.buffer);
    v.setUint32(0, MAX_MESSAGE_BYTES + 1);
    v.setUint32(4, 0);
    v.setUint32(8, crc32(huge.subarray(0, 8)));
    await expect(messages([huge])).rejects.toThrow("out of bounds");
    await expect(messages([good.subarray(0, good.length - 1)])).rejects.toThrow("ended inside a message");
  });
});

describe("ConverseStream → Gemini chunks", () => {
  const stream = converseToolStream("Let me check.", { id: "tooluse_1", name: "get_weather", input: { city: "Paris" } });
  const expected: GenerateContentResponse[] = [
    ...["Let", " me", " check."].map((text) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }], modelVersion: CALL.model })),
    { candidates: [{ content: { role: "model", parts: [{ functionCall: { id: "tooluse_1", name: "get_weather", args: { city: "Paris" } } }] }, index: 0 }], modelVersion: CALL.model },
    {
      candidates: [{ content: { role: "model", parts: [] }, index: 0, finishReason: "STOP" }], modelVersion: CALL.model,
      usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 8, totalTokenCount: 20 },
    },
  ];

  it("text as it arrives, the tool call whole at its block's stop, finish and usage last — at every split", async () => {
    expect(await gemini(stream)).toEqual(expected);
    const bytes = concatBytes(stream);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(await gemini([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    }
  });

  it("reasoning deltas become thoughts, the signature a signed empty thought; a broken tool input is MALFORMED_FUNCTION_CALL", async () => {
    const out = await gemini([
      converseEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { reasoningContent: { text: "hmm" } } }),
      converseEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { reasoningContent: { signature: "sig" } } }),
      converseEvent("contentBlockStart", { contentBlockIndex: 1, start: { toolUse: { toolUseId: "t", name: "f" } } }),
      converseEvent("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: '{"a":' } } }),
      converseEvent("contentBlockStop", { contentBlockIndex: 1 }),
      converseEvent("messageStop", { stopReason: "tool_use" }),
    ]);
    expect(out.map((c) => c.candidates![0]!.content!.parts)).toEqual([[{ text: "hmm", thought: true }], [{ text: "", thought: true, thoughtSignature: "sig" }], []]);
    expect(out.at(-1)!.candidates![0]!.finishReason).toBe("MALFORMED_FUNCTION_CALL");
  });

  it("an exception inside the stream is the upstream's error, with its status", async () => {
    await expect(gemini([converseEvent("messageStart", { role: "assistant" }), converseException("throttlingException", "Too many tokens")]))
      .rejects.toMatchObject({ body: { error: { code: 429, message: "throttlingException: Too many tokens" } } });
  });
});
