/**
 * Stand-in for Cloudflare's cache behind the Workers Cache API (the bench's default, like lib/d1-sink.mjs for D1): a
 * Node server outside the gateway's workerd process that speaks workerd's cache protocol (GET to match, PUT with
 * the serialized response, PURGE to delete; a miss is a 504 with `cf-cache-status: MISS`) and keeps entries in
 * memory until their `max-age`. A deployed cache runs in Cloudflare's data centre, not in the Worker: storing and
 * finding an entry is not the Worker's CPU, while the gateway's own share (the entry key, the Cache API call, the
 * body) still runs and is measured. BENCH_CACHE=local uses Miniflare's simulator (SQLite and blobs in the process).
 */
import http from "node:http";

const MAX_ENTRIES = 100_000;

export async function startCacheSink() {
  const entries = new Map();
  const stats = { matches: 0, hits: 0, puts: 0, purges: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const key = req.url;
      if (req.method === "GET") {
        stats.matches++;
        const e = entries.get(key);
        if (!e || e.expires <= Date.now()) {
          if (e) entries.delete(key);
          // An explicit empty length: without one workerd closed the connection after every miss and opened a new
          // one for the next match, a TCP connect per miss (0.16 ms of CPU a match instead of 0.04) that a deployed
          // cache never costs the Worker.
          res.writeHead(504, { "cf-cache-status": "MISS", "content-length": "0" }).end();
          return;
        }
        stats.hits++;
        res.writeHead(e.status, { ...e.headers, "cf-cache-status": "HIT", "content-length": String(e.body.length) }).end(e.body);
        return;
      }
      if (req.method === "PUT") {
        stats.puts++;
        const raw = Buffer.concat(chunks);
        const split = raw.indexOf("\r\n\r\n");
        if (split < 0) return void res.writeHead(400).end();
        const [status, ...lines] = raw.subarray(0, split).toString("latin1").split("\r\n");
        const headers = {};
        for (const l of lines) {
          const i = l.indexOf(":");
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const maxAge = /(?:s-maxage|max-age)=(\d+)/.exec(headers["cache-control"] ?? "");
        if (!maxAge) return void res.writeHead(413).end();
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value);
        delete headers["content-length"];
        entries.set(key, { status: Number(/^HTTP\/\S+ (\d+)/.exec(status)?.[1] ?? 200), headers, body: raw.subarray(split + 4), expires: Date.now() + Number(maxAge[1]) * 1000 });
        res.writeHead(204).end();
        return;
      }
      if (req.method === "PURGE") {
        stats.purges++;
        res.writeHead(entries.delete(key) ? 200 : 404, { "content-length": "0" }).end();
        return;
      }
      res.writeHead(405).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  server.unref();
  return { address: `127.0.0.1:${server.address().port}`, stats: () => ({ ...stats, entries: entries.size }), close: () => new Promise((r) => server.close(r)) };
}
