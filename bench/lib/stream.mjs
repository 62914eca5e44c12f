/**
 * Streaming probe. A loopback upstream (in this Node process) streams N Gemini SSE chunks; the client reading the
 * stream through the gateway (or the bare pass-through) is in the same process, so both share one clock:
 *
 *  - each chunk carries its sequence number; the upstream records when it wrote it;
 *  - the upstream writes chunk k+1 only after the client has seen chunk k, plus a fixed gap. That lock-step is the
 *    proof that nothing is held back: a hop that buffered chunk k until k+1 arrived would stall the stream, and the
 *    stall is detected (after `holdTimeoutMs` the upstream sends k+1 anyway and the chunk is counted as held back);
 *  - per chunk, delivery = arrival at the client − write at the upstream; TTFB = first body byte − request start.
 */
import http from "node:http";

const ANSWER = JSON.stringify({
  candidates: [{ content: { role: "model", parts: [{ text: "warm" }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1, totalTokenCount: 3 },
});

export async function streamUpstream({ chunks, gapMs, holdTimeoutMs = 1000 }) {
  const waiting = new Map(); // stream id → { seen(k) }
  const server = http.createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      // Plain calls (the warm-up before the measured streams) are answered at once.
      if (req.url.includes(":generateContent")) return res.writeHead(200, { "content-type": "application/json" }).end(ANSWER);
      // The stream id travels in the prompt (the gateway forwards neither the query nor client headers), so every
      // stream calls the same, priced model, as real traffic does.
      const id = /stream please ([\w-]+)/.exec(text)?.[1];
      const s = waiting.get(id);
      if (!s) return res.writeHead(404).end("unknown stream id");
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      s.run(res);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;

  /** Registers one stream: the upstream's side of the lock-step. */
  function expect(id) {
    const sentAt = new Array(chunks).fill(NaN);
    let heldBack = 0;
    let ack = () => {};
    const seen = new Set();
    const s = {
      sentAt,
      get heldBack() {
        return heldBack;
      },
      seen(k) {
        seen.add(k);
        ack(k);
      },
      async run(res) {
        for (let k = 0; k < chunks; k++) {
          const last = k === chunks - 1;
          const chunk = {
            candidates: [{ content: { role: "model", parts: [{ text: `chunk ${k} ` }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
            ...(last ? { usageMetadata: { promptTokenCount: 5, candidatesTokenCount: chunks, totalTokenCount: 5 + chunks } } : {}),
          };
          const acked = seen.has(k) ? Promise.resolve() : new Promise((r) => (ack = (j) => j === k && r()));
          sentAt[k] = performance.now();
          res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
          if (last) break;
          let timer;
          const ok = await Promise.race([acked.then(() => true), new Promise((r) => (timer = setTimeout(() => r(false), holdTimeoutMs)))]);
          clearTimeout(timer);
          if (!ok) heldBack++;
          await sleep(gapMs);
        }
        res.end();
        waiting.delete(id);
      },
    };
    waiting.set(id, s);
    return s;
  }
  return {
    url,
    expect,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads one stream through `base` (gateway or bare), acknowledging each chunk to the upstream as it arrives.
 */
export async function probeStream({ upstream, base, key, id, chunks, timeoutMs = 30_000 }) {
  const s = upstream.expect(id);
  const arrivedAt = new Array(chunks).fill(NaN);
  const t0 = performance.now();
  let firstByte = NaN;
  const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: `stream please ${id}` }] }] });
  await new Promise((resolve, reject) => {
    const req = http.request(`${base}/genai/v1beta/models/gemini/gemini-2.0-flash:streamGenerateContent?alt=sse`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key },
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(new Error(`stream ${id} timed out`)), timeoutMs);
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        let t = "";
        res.on("data", (d) => (t += d)).on("end", () => reject(new Error(`stream ${id}: HTTP ${res.statusCode} ${t}`)));
        return;
      }
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        const now = performance.now();
        if (Number.isNaN(firstByte)) firstByte = now - t0;
        buf += d;
        for (let m; (m = /chunk (\d+) /.exec(buf)); ) {
          const k = Number(m[1]);
          arrivedAt[k] = now;
          s.seen(k);
          buf = buf.slice(m.index + m[0].length);
        }
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve();
      });
      res.on("error", reject);
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
  const delivery = arrivedAt.map((a, k) => a - s.sentAt[k]);
  const gaps = arrivedAt.slice(1).map((a, k) => a - arrivedAt[k]);
  return { ttfbMs: firstByte, delivery, gaps, missing: arrivedAt.filter(Number.isNaN).length, heldBack: s.heldBack };
}
