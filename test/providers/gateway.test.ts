/** OpenAI, Anthropic and OpenAI-compatible hosts through the whole gateway, upstream fetch mocked. */
import { env, SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BASE, createKey, flushUsage, genai, mockUpstream, readSse, sseResponse, textRequest } from "../helpers/worker";
import { byteOffset } from "../helpers/stream";
import anthropicReq from "../fixtures/anthropic/messages-request.anthropic.json";
import anthropicGeminiReq from "../fixtures/anthropic/messages-request.gemini.json";
import anthropicMsg from "../fixtures/anthropic/message.json";
import anthropicMsgGemini from "../fixtures/anthropic/message.gemini.json";
import anthropicStreamGemini from "../fixtures/anthropic/messages-stream.gemini.json";
import anthropicSse from "../fixtures/anthropic/messages-stream.sse?raw";
import completion from "../fixtures/openai/chat-completion.json";
import completionGemini from "../fixtures/openai/chat-completion.gemini.json";
import openaiReq from "../fixtures/openai/chat-request.openai.json";
import openaiGeminiReq from "../fixtures/openai/chat-request.gemini.json";
import openaiStreamGemini from "../fixtures/openai/chat-stream.gemini.json";
import openaiSse from "../fixtures/openai/chat-stream.sse?raw";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "providers" })).key;
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Cuts text at the given byte offsets into network chunks (sseResponse takes strings: cut outside multi-byte characters). */
const cut = (text: string, at: number[]) => {
  const bytes = new TextEncoder().encode(text);
  const points = [0, ...at.sort((a, b) => a - b), bytes.length];
  return points.slice(1).map((p, i) => new TextDecoder().decode(bytes.slice(points[i], p)));
};

/** The usage row the gateway writes after the response (in waitUntil). */
async function usageRow(r: Response) {
  const id = r.headers.get("x-edgeway-request-id")!;
  return vi.waitFor(async () => {
    await flushUsage();
    const row = await env.DB.prepare("SELECT * FROM usage WHERE request_id = ?").bind(id).first<Record<string, unknown>>();
    if (!row) throw new Error("no usage row yet");
    return row;
  });
}

describe("openai through the gateway", () => {
  it("generateContent: upstream URL, key header, body; Gemini answer; usage row", async () => {
    const calls = mockUpstream(() => Response.json(completion));
    // A reasoning model, since the golden request asks for thinking (gpt-4o-mini would get no reasoning_effort).
    const r = await genai("openai/o4-mini", "generateContent", openaiGeminiReq, key);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual(completionGemini);
    expect(r.headers.get("x-edgeway-provider")).toBe("openai");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("https://openai.upstream.test/v1/chat/completions");
    expect(calls[0]!.headers.get("authorization")).toBe("Bearer test-openai-key");
    expect(JSON.parse(calls[0]!.body)).toEqual({ ...openaiReq, model: "o4-mini" });
    const row = await usageRow(r);
    // 1200 prompt (1024 cached), 172 answer + 128 reasoning billed as output.
    expect(row).toMatchObject({ provider: "openai", model: "o4-mini", input_tokens: 1200, cached_tokens: 1024, output_tokens: 300, thinking_tokens: 128, tool_use_tokens: 0 });
  });

  it("streamGenerateContent: translated chunks, usage in the last, include_usage asked for", async () => {
    const chunks = cut(openaiSse, [byteOffset(openaiSse, "ty\\\"", 2), byteOffset(openaiSse, "data:", 2, 5)]);
    const calls = mockUpstream(() => sseResponse(chunks));
    const r = await genai("openai/gpt-4o-mini", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    expect(await readSse(r)).toEqual(openaiStreamGemini);
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(await usageRow(r)).toMatchObject({ stream: 1, input_tokens: 80, cached_tokens: 64, output_tokens: 40 });
  });

  it("countTokens is a local estimate, marked as such, with no upstream call", async () => {
    const calls = mockUpstream(() => new Response("no", { status: 500 }));
    const r = await genai("openai/gpt-4o-mini", "countTokens", { contents: [{ role: "user", parts: [{ text: "12345678" }] }] }, key);
    expect(await r.json()).toEqual({ totalTokens: 2, estimated: true });
    expect(calls).toHaveLength(0);
  });

  it("embedContent and batchEmbedContents on /v1/embeddings", async () => {
    const calls = mockUpstream(async (c) => {
      const n = (JSON.parse(c.body).input as string[]).length;
      return Response.json({ object: "list", data: Array.from({ length: n }, (_, i) => ({ object: "embedding", index: i, embedding: [i, 0.5] })), model: "text-embedding-3-small", usage: { prompt_tokens: 4, total_tokens: 4 } });
    });
    const one = await genai("openai/text-embedding-3-small", "embedContent", { content: { parts: [{ text: "hello" }] }, outputDimensionality: 2 }, key);
    expect(await one.json()).toMatchObject({ embedding: { values: [0, 0.5] } });
    expect(calls[0]!.url).toBe("https://openai.upstream.test/v1/embeddings");
    expect(JSON.parse(calls[0]!.body)).toEqual({ model: "text-embedding-3-small", input: ["hello"], encoding_format: "float", dimensions: 2 });
    const batch = await genai("openai/text-embedding-3-small", "batchEmbedContents", {
      requests: [{ model: "models/openai/text-embedding-3-small", content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }],
    }, key);
    expect(await batch.json()).toMatchObject({ embeddings: [{ values: [0, 0.5] }, { values: [1, 0.5] }] });
  });

  it("predict on /v1/images/generations", async () => {
    const calls = mockUpstream(() => Response.json({ created: 1, data: [{ b64_json: "iVBORw0K" }] }));
    const r = await genai("openai/dall-e-3", "predict", { instances: [{ prompt: "a lighthouse" }], parameters: { sampleCount: 1, aspectRatio: "9:16" } }, key);
    expect(await r.json()).toEqual({ predictions: [{ bytesBase64Encoded: "iVBORw0K", mimeType: "image/png" }] });
    expect(calls[0]!.url).toBe("https://openai.upstream.test/v1/images/generations");
    expect(JSON.parse(calls[0]!.body)).toEqual({ model: "dall-e-3", prompt: "a lighthouse", n: 1, size: "1024x1792", response_format: "b64_json" });
  });

  it("an upstream error keeps its status in a Gemini error body, without the key", async () => {
    mockUpstream(() => Response.json(
      { error: { message: "Unsupported value test-openai-key for temperature.", type: "invalid_request_error", param: "temperature", code: null } },
      { status: 400 },
    ));
    const r = await genai("openai/gpt-4o-mini", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(400);
    const body = await r.json<{ error: { code: number; message: string; status: string } }>();
    expect(body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
    expect(body.error.message).toBe("openai: Unsupported value [redacted] for temperature.");
  });

  it("an upstream 401 (our provider key refused) is a 502, not the caller's UNAUTHENTICATED, without the key", async () => {
    mockUpstream(() => Response.json(
      { error: { message: "Incorrect API key provided: test-openai-key.", type: "invalid_request_error", param: null, code: "invalid_api_key" } },
      { status: 401 },
    ));
    const r = await genai("openai/gpt-4o-mini", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(502);
    const body = await r.json<{ error: { code: number; message: string; status: string } }>();
    expect(body.error).toMatchObject({ code: 502, status: "UNAVAILABLE" });
    expect(body.error.message).toContain("openai: Incorrect API key provided");
    expect(JSON.stringify(body)).not.toContain("test-openai-key");
  });

  it("a translation error is a 400 before any upstream call", async () => {
    const calls = mockUpstream(() => Response.json(completion));
    const r = await genai("openai/gpt-4o-mini", "generateContent", { contents: [{ role: "user", parts: [{ inlineData: { mimeType: "video/mp4", data: "AA" } }] }] }, key);
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.message).toMatch(/video\/mp4/);
    expect(calls).toHaveLength(0);
  });
});

describe("anthropic through the gateway", () => {
  it("generateContent: URL, x-api-key, anthropic-version, body; Gemini answer; usage row with cache", async () => {
    const calls = mockUpstream(() => Response.json(anthropicMsg));
    const r = await genai("anthropic/claude-sonnet-4-5", "generateContent", anthropicGeminiReq, key);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual(anthropicMsgGemini);
    expect(calls[0]!.url).toBe("https://anthropic.upstream.test/v1/messages");
    expect(calls[0]!.headers.get("x-api-key")).toBe("test-anthropic-key");
    expect(calls[0]!.headers.get("anthropic-version")).toBe("2023-06-01");
    expect(calls[0]!.headers.get("authorization")).toBeNull();
    expect(JSON.parse(calls[0]!.body)).toEqual(anthropicReq);
    expect(await usageRow(r)).toMatchObject({ provider: "anthropic", input_tokens: 1250, cached_tokens: 1000, output_tokens: 120 });
  });

  it("streamGenerateContent with CRLF framing split between \\r and \\n", async () => {
    const crlf = anthropicSse.replaceAll("\n", "\r\n");
    mockUpstream(() => sseResponse(cut(crlf, [byteOffset(crlf, "\r\n\r\n", 1, 3), byteOffset(crlf, "partial_json", 5)])));
    const r = await genai("anthropic/claude-sonnet-4-5", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(await readSse(r)).toEqual(anthropicStreamGemini);
    expect(await usageRow(r)).toMatchObject({ stream: 1, input_tokens: 2520, cached_tokens: 2048, output_tokens: 89 });
  });

  it("an error event after the first byte ends the stream with a Gemini error event", async () => {
    const ev = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
    mockUpstream(() => sseResponse([
      ev("message_start", { message: { id: "m", model: "claude", usage: { input_tokens: 3, output_tokens: 1 } } }),
      ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Partial" } }),
      ev("error", { error: { type: "overloaded_error", message: "Overloaded" } }),
    ]));
    const r = await genai("anthropic/claude-sonnet-4-5", "streamGenerateContent", textRequest("hi"), key);
    const events = await readSse(r);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ candidates: [{ content: { parts: [{ text: "Partial" }] } }] });
    expect(events[1]).toEqual({ error: { code: 503, message: "anthropic: Overloaded", status: "UNAVAILABLE" } });
  });

  it("countTokens on /v1/messages/count_tokens", async () => {
    const calls = mockUpstream(() => Response.json({ input_tokens: 14 }));
    const r = await genai("anthropic/claude-sonnet-4-5", "countTokens", { contents: [{ role: "user", parts: [{ text: "Hello, world" }] }] }, key);
    expect(await r.json()).toEqual({ totalTokens: 14 });
    expect(calls[0]!.url).toBe("https://anthropic.upstream.test/v1/messages/count_tokens");
    expect(JSON.parse(calls[0]!.body)).toEqual({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: [{ type: "text", text: "Hello, world" }] }] });
  });

  it("actions Anthropic cannot serve are a 400", async () => {
    const r = await genai("anthropic/claude-sonnet-4-5", "embedContent", { content: { parts: [{ text: "x" }] } }, key);
    expect(r.status).toBe(400);
  });

  it("upstream errors keep the upstream status", async () => {
    mockUpstream(() => Response.json({ type: "error", error: { type: "invalid_request_error", message: "max_tokens: too large" } }, { status: 400 }));
    const r = await genai("anthropic/claude-sonnet-4-5", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: { code: 400, message: "anthropic: max_tokens: too large", status: "INVALID_ARGUMENT" } });
  });
});

describe("OpenAI-compatible hosts from OPENAI_COMPATIBLE_PROVIDERS", () => {
  it("groq: its base URL and key secret, max_tokens", async () => {
    const calls = mockUpstream(() => Response.json({ id: "g1", model: "llama-3.3-70b-versatile", choices: [{ index: 0, message: { role: "assistant", content: "hey" }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
    const r = await genai("groq/llama-3.3-70b-versatile", "generateContent", textRequest("hi", { generationConfig: { maxOutputTokens: 5 } }), key);
    expect(await r.json()).toMatchObject({ candidates: [{ content: { parts: [{ text: "hey" }] }, finishReason: "STOP" }], usageMetadata: { totalTokenCount: 4 } });
    expect(calls[0]!.url).toBe("https://groq.upstream.test/openai/v1/chat/completions");
    expect(calls[0]!.headers.get("authorization")).toBe("Bearer test-groq-key");
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ model: "llama-3.3-70b-versatile", max_tokens: 5 });
  });

  it("ollama: no key, no authorization header, reasoning_content as thoughts", async () => {
    const calls = mockUpstream(() => Response.json({ id: "o1", model: "qwen3", choices: [{ index: 0, message: { role: "assistant", content: "4", reasoning_content: "2+2" }, finish_reason: "stop" }] }));
    const r = await genai("ollama/qwen3", "generateContent", textRequest("2+2?"), key);
    expect(await r.json()).toMatchObject({ candidates: [{ content: { parts: [{ text: "2+2", thought: true }, { text: "4" }] } }] });
    expect(calls[0]!.url).toBe("http://ollama.upstream.test:11434/v1/chat/completions");
    expect(calls[0]!.headers.get("authorization")).toBeNull();
  });

  it("the models list shows every configured provider's models", async () => {
    const list = await (await SELF.fetch(`${BASE}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } })).json<{ models: { name: string }[] }>();
    const names = list.models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([
      "models/openai/gpt-4o-mini", "models/openai/text-embedding-3-small", "models/anthropic/claude-sonnet-4-5", "models/groq/llama-3.3-70b-versatile",
    ]));
  });
});
