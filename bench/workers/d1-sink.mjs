// Stand-in for a remote D1 (default in the bench): answers every query at once as D1 would for an INSERT, and
// stores nothing. In production D1 runs elsewhere, so its SQLite work is not the gateway's CPU; the gateway's own
// share (building the statement, the D1 client, the call) still runs. BENCH_D1=local uses Miniflare's SQLite D1.
// GET /stats (on the stand-in's own socket, when the bench opens one) says how the gateway wrote: D1 calls and
// statements per call, which is how bench/usage-sink.mjs sees the batching.
const stats = { calls: 0, statements: 0, maxBatch: 0 };

export default {
  async fetch(request) {
    if (request.method === "GET" && new URL(request.url).pathname === "/stats") return Response.json(stats);
    const body = await request.json();
    const n = Array.isArray(body) ? body.length : 1;
    stats.calls++;
    stats.statements += n;
    stats.maxBatch = Math.max(stats.maxBatch, n);
    const one = () => ({ success: true, results: [], meta: { served_by: "bench-d1-sink", duration: 0, changes: 1, last_row_id: 1, changed_db: true, size_after: 0, rows_read: 0, rows_written: 1 } });
    return Response.json(Array.isArray(body) ? body.map(one) : one());
  },
};
