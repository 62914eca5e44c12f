// Fast mock upstream on loopback (runs in its own workerd): answers at once.
//   POST /v1beta/models/<m>:generateContent       → a Gemini GenerateContentResponse
//   POST /v1/chat/completions                     → an OpenAI chat.completion
//   POST /v1beta/models/bigstream-<bytes>:streamGenerateContent → <bytes> of Gemini SSE, generated on the fly
//   POST …/v1/traces                              → 200 (an OTLP collector that costs nothing)
// With a DELAY_MS binding every answer waits that long after the request body was read (a model thinking): what
// bench/memory.mjs uses to keep concurrent calls in flight together.
const GEMINI = JSON.stringify({
  candidates: [{ content: { role: "model", parts: [{ text: "Hello! How can I help you today?" }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 9, totalTokenCount: 17 },
  modelVersion: "gemini-2.0-flash",
  responseId: "bench-response",
});
const OPENAI = JSON.stringify({
  id: "chatcmpl-bench", object: "chat.completion", created: 1767225600, model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello! How can I help you today?" }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 8, completion_tokens: 9, total_tokens: 17 },
});
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

function bigStream(total) {
  const text = "x".repeat(16 * 1024);
  const enc = new TextEncoder();
  const chunk = (last) => enc.encode(`data: ${JSON.stringify({
    candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
    ...(last ? { usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 1, totalTokenCount: 9 } } : {}),
  })}\r\n\r\n`);
  const body = chunk(false);
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) {
        c.enqueue(chunk(true));
        c.close();
        return;
      }
      c.enqueue(body);
      sent += body.byteLength;
    },
  }, { highWaterMark: 0 });
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    await request.arrayBuffer();
    if (env?.DELAY_MS) await new Promise((r) => setTimeout(r, Number(env.DELAY_MS)));
    if (pathname === "/v1/chat/completions") return new Response(OPENAI, { headers: JSON_HEADERS });
    if (pathname.endsWith("/v1/traces")) return new Response(null, { status: 200 });
    const big = /\/models\/bigstream-(\d+):streamGenerateContent$/.exec(pathname);
    if (big) return new Response(bigStream(Number(big[1])), { headers: { "content-type": "text/event-stream" } });
    if (pathname.endsWith(":generateContent")) return new Response(GEMINI, { headers: JSON_HEADERS });
    return new Response(JSON.stringify({ error: { code: 404, message: `mock: no ${pathname}`, status: "NOT_FOUND" } }), { status: 404, headers: JSON_HEADERS });
  },
};
