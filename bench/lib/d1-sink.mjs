/**
 * Stand-in for a remote D1 (the bench's default): answers every query at once as D1 would for an INSERT, and stores
 * nothing. It is a Node server outside the gateway's workerd process, because a deployed D1 runs elsewhere: parsing
 * and answering the statements is not the Worker's CPU, while the gateway's own share (building the statements, the
 * D1 client, the call over a socket) still runs and is measured. `stats` says how the gateway wrote: D1 calls and
 * rows per call, which is how bench/usage-sink.mjs sees the batching (a statement that inserts rows from one JSON
 * parameter through json_each counts as its rows, and answers RETURNING with their ids as D1 does for new rows). BENCH_D1=local uses Miniflare's SQLite.
 */
import http from "node:http";

export async function startD1Sink() {
  const stats = { calls: 0, statements: 0, maxBatch: 0 };
  const rowsOf = (q) => (q?.sql?.includes("json_each") ? JSON.parse(q.params[0]) : undefined);
  const one = (q) => {
    const rows = rowsOf(q);
    const results = rows && q.sql.includes("RETURNING request_id") ? rows.map((r) => ({ request_id: r.request_id })) : [];
    const n = rows?.length ?? 1;
    return { success: true, results, meta: { served_by: "bench-d1-sink", duration: 0, changes: n, last_row_id: 1, changed_db: true, size_after: 0, rows_read: 0, rows_written: n } };
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const n = (Array.isArray(body) ? body : [body]).reduce((a, q) => a + (rowsOf(q)?.length ?? 1), 0);
      stats.calls++;
      stats.statements += n;
      stats.maxBatch = Math.max(stats.maxBatch, n);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(Array.isArray(body) ? body.map(one) : one()));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  // The bench's own lifetime bounds it: an open stand-in never keeps the bench from exiting.
  server.unref();
  return {
    address: `127.0.0.1:${server.address().port}`,
    stats: () => ({ ...stats }),
    close: () => new Promise((r) => server.close(r)),
  };
}
