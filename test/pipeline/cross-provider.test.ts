/** One chain across three wire formats: Gemini → OpenAI → Anthropic, each translated, upstream fetch mocked. */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import anthropicMsg from "../fixtures/anthropic/message.json";
import anthropicMsgGemini from "../fixtures/anthropic/message.gemini.json";
import anthropicStreamGemini from "../fixtures/anthropic/messages-stream.gemini.json";
import anthropicSse from "../fixtures/anthropic/messages-stream.sse?raw";
import { createKey, genaiSettled, mockUpstream, readSse, sseResponse, textRequest, usageRow } from "../helpers/worker";

const CHAIN = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"];
const host = (url: string) => new URL(url).hostname.split(".")[0];

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "cross-provider" })).key;
});
afterEach(() => vi.restoreAllMocks());

describe.each([false, true])("gemini → openai → anthropic (stream: %s)", (stream) => {
  it("Gemini 503, OpenAI 429 beyond the cap: Anthropic's answer, translated to Gemini", async () => {
    const calls = mockUpstream((c) => {
      if (host(c.url) === "gemini") return Response.json({ error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } }, { status: 503 });
      if (host(c.url) === "openai") {
        return Response.json({ error: { message: "Rate limit reached", type: "requests" } }, { status: 429, headers: { "retry-after": "600" } });
      }
      return stream ? sseResponse([anthropicSse]) : Response.json(anthropicMsg);
    });
    const action = stream ? "streamGenerateContent" : "generateContent";
    const res = await genaiSettled("gemini-2.0-flash", action, textRequest("hi", { fallbacks: CHAIN }), key, {
      query: stream ? "?alt=sse" : "",
    });
    expect(res.status).toBe(200);
    if (stream) expect(await readSse(res)).toEqual(anthropicStreamGemini);
    else expect(await res.json()).toEqual(anthropicMsgGemini);

    expect(calls.map((c) => host(c.url))).toEqual(["gemini", "openai", "anthropic"]);
    // Each upstream got the request in its own format, with its own model name and nothing of the gateway's.
    expect(JSON.parse(calls[1]!.body)).toMatchObject({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(JSON.parse(calls[2]!.body)).toMatchObject({ model: "claude-haiku-4-5", messages: [{ role: "user" }] });
    for (const c of calls) expect(c.body).not.toContain("fallbacks");

    expect(res.headers.get("x-edgeway-provider")).toBe("anthropic");
    expect(res.headers.get("x-edgeway-model")).toBe("claude-haiku-4-5");
    expect(res.headers.get("x-edgeway-attempts")).toBe("3");
    const row = (await usageRow(res.headers.get("x-edgeway-request-id")))!;
    expect(row).toMatchObject({ provider: "anthropic", model: "claude-haiku-4-5", fallback_index: 2, outcome: "ok", attempts: 3 });
    expect(JSON.parse(row.attempts_json as string).map((a: { target: string; reason: string }) => [a.target, a.reason])).toEqual([
      ["gemini/gemini-2.0-flash", "upstream 503"],
      ["openai/gpt-4o-mini", "upstream 429"],
      ["anthropic/claude-haiku-4-5", "ok"],
    ]);
  });
});

it("an OpenAI stream that fails with an error event before its first chunk falls back to Anthropic", async () => {
  const calls = mockUpstream((c) => {
    if (host(c.url) === "openai") return sseResponse([`data: ${JSON.stringify({ error: { message: "server error", type: "server_error" } })}\n\n`]);
    return sseResponse([anthropicSse]);
  });
  const res = await genaiSettled("openai/gpt-4o-mini", "streamGenerateContent", textRequest("hi", { fallbacks: ["anthropic/claude-haiku-4-5"] }), key, {
    query: "?alt=sse",
  });
  expect(await readSse(res)).toEqual(anthropicStreamGemini);
  expect(calls.map((c) => host(c.url))).toEqual(["openai", "anthropic"]);
  expect(res.headers.get("x-edgeway-attempts")).toBe("2");
});
