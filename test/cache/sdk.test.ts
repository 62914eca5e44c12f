/**
 * A streamed cache hit read by the official @google/genai SDK's generateContentStream, inside workerd: the SDK's
 * requests go to the Worker's own fetch handler, the gateway's upstream calls to a mock (test/helpers/worker.ts).
 */
import { GoogleGenAI } from "@google/genai";
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { BASE, createKey, flushUsage } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const frame = (v: unknown) => `data: ${JSON.stringify(v)}\r\n\r\n`;
const events = ["Hello", " from", " Gemini"].map((text, i) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(i === 2 ? { finishReason: "STOP" } : {}) }],
  ...(i === 2 ? { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 3, totalTokenCount: 6 } } : {}),
}));

describe("response cache: a streamed hit through @google/genai", () => {
  it("generateContentStream reads the replayed SSE chunk by chunk, the same as the original", async () => {
    const created = await createKey({ cache: { ttl: 60 } });
    const upstream: string[] = [];
    const seen: (string | null)[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      if (req.url.startsWith(BASE)) {
        const ctx = createExecutionContext();
        const res = await worker.fetch(req, env, ctx);
        seen.push(res.headers.get("x-edgeway-cache"));
        const body = await res.text();
        await waitOnExecutionContext(ctx);
        return new Response(body, { status: res.status, headers: res.headers });
      }
      if (req.url.startsWith("https://gemini.upstream.test/")) {
        upstream.push(req.url);
        return new Response(events.map(frame).join(""), { headers: { "content-type": "text/event-stream" } });
      }
      return realFetch(input, init);
    });
    const ai = new GoogleGenAI({ apiKey: created.key, httpOptions: { baseUrl: `${BASE}/genai` } });
    const read = async () => {
      const chunks: string[] = [];
      for await (const c of await ai.models.generateContentStream({ model: "gemini-2.0-flash", contents: "Say hi" })) chunks.push(c.text ?? "");
      return chunks;
    };
    const first = await read();
    const again = await read();
    expect(first).toEqual(["Hello", " from", " Gemini"]);
    expect(again).toEqual(first);
    expect(seen).toEqual(["miss", "hit"]);
    expect(upstream).toHaveLength(1);
    await flushUsage();
  });
});
