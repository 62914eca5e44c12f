// Stand-in for a remote D1 (default in the bench): answers every query at once as D1 would for an INSERT, and
// stores nothing. In production D1 runs elsewhere, so its SQLite work is not the gateway's CPU; the gateway's own
// share (building the statement, the D1 client, the call) still runs. BENCH_D1=local uses Miniflare's SQLite D1.
export default {
  async fetch(request) {
    const body = await request.json();
    const one = () => ({ success: true, results: [], meta: { served_by: "bench-d1-sink", duration: 0, changes: 1, last_row_id: 1, changed_db: true, size_after: 0, rows_read: 0, rows_written: 1 } });
    return Response.json(Array.isArray(body) ? body.map(one) : one());
  },
};
