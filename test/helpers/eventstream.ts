/** Builds AWS event-stream frames as Bedrock sends them (string headers, JSON payloads), for mocks and decoder tests. */
import { crc32 } from "../../src/providers/bedrock/eventstream";

const enc = new TextEncoder();

export function frame(headers: Record<string, string>, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === "string" ? enc.encode(payload) : payload;
  const hs: number[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = enc.encode(name);
    const v = enc.encode(value);
    hs.push(n.length, ...n, 7, v.length >> 8, v.length & 0xff, ...v);
  }
  const total = 12 + hs.length + body.length + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, total);
  view.setUint32(4, hs.length);
  view.setUint32(8, crc32(out.subarray(0, 8)));
  out.set(hs, 12);
  out.set(body, 12 + hs.length);
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)));
  return out;
}

/** One ConverseStream event (`:event-type` names it; the payload is its JSON, padded as AWS pads it). */
export const converseEvent = (type: string, body: object) =>
  frame({ ":event-type": type, ":content-type": "application/json", ":message-type": "event" }, JSON.stringify({ ...body, p: "abcdefgh" }));

/** An exception inside the stream. */
export const converseException = (type: string, message: string) =>
  frame({ ":exception-type": type, ":content-type": "application/json", ":message-type": "exception" }, JSON.stringify({ message }));

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A ConverseStream answer: text, then a tool call whose input arrives in two fragments, stop, usage. */
export function converseToolStream(text: string, tool: { id: string; name: string; input: object }, usage = { inputTokens: 12, outputTokens: 8, totalTokens: 20 }): Uint8Array[] {
  const input = JSON.stringify(tool.input);
  const words = text.match(/\s*\S+/g) ?? [];
  return [
    converseEvent("messageStart", { role: "assistant" }),
    ...words.map((w) => converseEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { text: w } })),
    converseEvent("contentBlockStop", { contentBlockIndex: 0 }),
    converseEvent("contentBlockStart", { contentBlockIndex: 1, start: { toolUse: { toolUseId: tool.id, name: tool.name } } }),
    converseEvent("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: input.slice(0, 5) } } }),
    converseEvent("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: input.slice(5) } } }),
    converseEvent("contentBlockStop", { contentBlockIndex: 1 }),
    converseEvent("messageStop", { stopReason: "tool_use" }),
    converseEvent("metadata", { usage, metrics: { latencyMs: 42 } }),
  ];
}
