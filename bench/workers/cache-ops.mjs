// bench/cache-ops.mjs's Worker: one Cache API operation per request (a `match` that misses, a `put` of a small
// answer with the gateway's entry headers), one upstream subrequest, or nothing: what each costs the runtime alone.
const BODY = JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "Hello! How can I help you today?" }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 12, totalTokenCount: 21 } });
let cache;
export default {
  async fetch(request, env) {
    const op = new URL(request.url).pathname.slice(1);
    cache ??= await caches.open("cache-ops");
    const key = `https://edgeway-cache.invalid/v2/${crypto.randomUUID()}`;
    if (op === "match") await cache.match(key);
    else if (op === "put") {
      await cache.put(key, new Response(BODY, { headers: { "content-type": "application/json", "cache-control": "max-age=60", "x-edgeway-kind": "answer", "x-edgeway-ttl": "60", "x-edgeway-stored-at": "1", "x-edgeway-tokens": "{}", "x-edgeway-cost-usd": "0" } }));
    } else if (op === "fetch") await (await fetch(`${env.UPSTREAM}/v1beta/models/gemini-2.0-flash:generateContent`, { method: "POST", body: "{}" })).text();
    return new Response("ok");
  },
};
