/**
 * Round trip to a Governor Durable Object from a Worker, in the local runtime (workerd via Miniflare): the bundled
 * gateway plus a tiny bench Worker bound to the gateway's Governor class, timing `admit` and `settle` calls in a
 * loop from inside workerd (`read` is a read-only call, the RPC floor). performance.now() is coarse in workerd,
 * so the mean (total/n) is the figure to quote. Local figures: no network between Worker and DO, so they show the DO's own cost
 * (RPC + SQLite); a deployed edge adds the hop to wherever the object lives.
 *   node bench/governor-rtt.mjs [iterations=2000]
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = path.resolve(import.meta.dirname, "..");
const n = Number(process.argv[2] ?? 2000);
const outdir = path.join(root, ".wrangler", "bench-dist");
execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
  cwd: root,
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  stdio: "pipe",
});

const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
const gov = workerOptions.durableObjects.GOVERNOR;
const benchScript = `
export default {
  async fetch(req, env) {
    const n = Number(new URL(req.url).searchParams.get("n"));
    const stub = env.GOVERNOR.get(env.GOVERNOR.idFromName("key:bench-" + crypto.randomUUID()));
    await stub.configure({ subject: "key", name: "bench", rate_limit: { rpm: 1e9, tpm: 1e12 }, budget: { max_usd: 1e9, period: "1d" }, active: true, rotations: 0 });
    const time = async (f) => { const out = []; for (let i = 0; i < n; i++) { const t = performance.now(); await f(); out.push(performance.now() - t); } return out; };
    const read = await time(() => stub.snapshot());
    const admit = await time(() => stub.admit({ rotations: 0 }));
    const settle = await time(() => stub.settle({ tokens: 12, usd: 0.000023 }));
    return Response.json({ read, admit, settle, snapshot: await stub.snapshot() });
  },
};`;
const mf = new Miniflare({
  workers: [
    { ...workerOptions, name: "edgeway", modules: true, scriptPath: path.join(outdir, "index.js") },
    {
      name: "bench",
      compatibilityDate: workerOptions.compatibilityDate ?? "2026-04-01",
      modules: true,
      script: benchScript,
      durableObjects: { GOVERNOR: { ...(typeof gov === "object" ? gov : { className: gov }), scriptName: "edgeway" } },
    },
  ],
});
try {
  const r = await (await mf.getWorker("bench")).fetch(`http://bench/?n=${n}`);
  const body = await r.json();
  if (!r.ok) throw new Error(JSON.stringify(body));
  const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  for (const k of ["read", "admit", "settle"]) {
    const xs = body[k];
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    console.log(`${k.padEnd(6)} n=${xs.length} mean=${mean.toFixed(3)}ms p50=${pct(xs, 50).toFixed(3)}ms p99=${pct(xs, 99).toFixed(3)}ms`);
  }
  console.log("counters after the run:", JSON.stringify(body.snapshot));
} finally {
  await mf.dispose();
}
