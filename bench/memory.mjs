#!/usr/bin/env node
/**
 * `node bench/memory.mjs`: what a large request body costs the gateway in memory, native (Gemini → Gemini) and
 * translated (Gemini → OpenAI). Every measurement gets a fresh gateway process in plain workerd, warmed by one small
 * call; then one call, or several at once, with a body of S MiB (one `inlineData` image of S MiB of base64, as a
 * large real request is) goes to a loopback upstream that reads it whole.
 *
 * 1. Per MiB of body: the growth of the process's peak RSS (VmHWM) over its warm RSS, divided by the body bytes in
 *    flight. RSS counts everything: the runtime's own buffers and garbage V8 has not collected yet, so it is an
 *    upper bound of what the isolate holds.
 * 2. Peak V8 heap per MiB of body: every V8 heap capped at 128 MiB, a deployed Worker's isolate limit, where a
 *    call that does not fit kills the process (as a deployed isolate is killed, with its in-flight requests and their
 *    usage rows). The largest single body that fits (binary search, 1 MiB steps) gives what one call holds at its
 *    peak: (128 MiB − the warm isolate's heap) / that body. The runtime's own buffers are outside the V8 heap.
 * 3. Capacity: 4 calls at once (the upstream answers a second after reading each body, so all 4 are in flight
 *    together) in 128 MiB heaps, at growing sizes: the largest that fits.
 *
 * Writes bench/memory.json. Knobs: BENCH_MEM_SIZES (MiB, "1,4,8,19"), BENCH_MEM_CONCURRENT ("1,4"),
 * BENCH_MEM_PATHS ("native,translated"), BENCH_MEM_HEAP (MiB, 128), BENCH_MEM_CAPACITY_SIZES ("8,12,16,19,24,28"),
 * BENCH_MEM_ONLY ("perMiB,peak,capacity"), BENCH_VERBOSE=1.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadAverage, memMiB } from "./lib/proc.mjs";
import { compatOf, prepareGateway, serve, simpleConfig, withVars, WORKERD } from "./lib/workerd.mjs";
import { ADMIN_TOKEN, createKey } from "./lib/admin.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-memory");
const list = (name, d) => (process.env[name] ?? d).split(",").map((s) => s.trim()).filter(Boolean);
const SIZES = list("BENCH_MEM_SIZES", "1,4,8,19").map(Number);
const CONCURRENT = list("BENCH_MEM_CONCURRENT", "1,4").map(Number);
const PATHS = list("BENCH_MEM_PATHS", "native,translated");
/** V8 heap limit of every isolate in the capacity runs, in MiB (128: a deployed Worker's). */
const HEAP_MIB = Number(process.env.BENCH_MEM_HEAP ?? 128);
const CAPACITY_SIZES = list("BENCH_MEM_CAPACITY_SIZES", "8,12,16,19,24,28").map(Number);
const ONLY = new Set(list("BENCH_MEM_ONLY", "perMiB,peak,capacity"));
const MODELS = { native: "gemini/gemini-2.0-flash", translated: "openai/gpt-4o-mini" };
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.error(`bench memory: ${s}`);

/** A generateContent body of about `bytes`: a short text and one PNG's worth of base64. */
function body(bytes) {
  const head = { contents: [{ role: "user", parts: [{ text: "Describe this picture." }, { inlineData: { mimeType: "image/png", data: "" } }] }] };
  const overhead = JSON.stringify(head).length;
  const data = "A".repeat(Math.max(0, bytes - overhead) & ~3);
  head.contents[0].parts[1].inlineData.data = data;
  return JSON.stringify(head);
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const dist = path.join(work, "dist");
  execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", dist], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
    stdio: "pipe",
  });
  const base = await prepareGateway({
    root,
    bundlePath: path.join(dist, "index.js"),
    stateDir: path.join(work, "state"),
    vars: { ADMIN_TOKEN, GEMINI_API_KEY: "bench-gemini-key", OPENAI_API_KEY: "bench-openai-key" },
  });
  // Answers a second after reading each body, so the calls of a batch are all in flight at once.
  const upstream = await serve(
    simpleConfig({ name: "upstream", modulePath: path.join(import.meta.dirname, "workers", "upstream.mjs"), compat: compatOf(base), bindings: [{ name: "DELAY_MS", text: "1000" }] }),
    { dir: work, label: "upstream" },
  );
  // Big enough for every size measured: the figure is what a body costs, not where the cap is.
  const cfg = withVars(base, { GEMINI_BASE_URL: upstream.url, OPENAI_BASE_URL: upstream.url, MAX_BODY_BYTES: String(512 * MiB) });
  const capped = { ...cfg, v8Flags: [`--max-old-space-size=${HEAP_MIB}`] };

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, workerd: execFileSync(WORKERD, ["--version"], { encoding: "utf8" }).trim(), loadBefore: loadAverage() },
    perMiB: [],
    peak: { heapMiB: HEAP_MIB, runs: [], largestSingleMiB: {}, heapPerBodyMiB: {} },
    capacity: { heapMiB: HEAP_MIB, concurrent: 4, runs: [], largestFittingMiB: {} },
  };
  let key;
  const run = async (config, label, p, n, mib) => {
    const gw = await serve(config, { dir: work, label });
    try {
      key ??= await createKey(gw.url, { name: "bench-memory" });
      return await measure(gw, key, MODELS[p], mib, n);
    } finally {
      await gw.stop();
    }
  };
  try {
    if (ONLY.has("perMiB")) {
      for (const p of PATHS) {
        for (const n of CONCURRENT) {
          for (const mib of SIZES) {
            const r = await run(cfg, `gateway-${p}-${n}x${mib}`, p, n, mib);
            results.perMiB.push({ path: p, concurrent: n, bodyMiB: mib, ...r });
            log(`${p.padEnd(10)} ${n} × ${String(mib).padStart(2)} MiB: RSS ${r.warmMiB.toFixed(1)} → peak ${r.peakMiB.toFixed(1)} MiB (+${r.growthMiB.toFixed(1)}, ${r.perBodyMiB.toFixed(2)} MiB per MiB of body); statuses ${r.statuses.join(",")}`);
          }
        }
      }
    }
    if (ONLY.has("peak")) {
      for (const p of PATHS) {
        // The warm isolate's own heap is what is left of 128 MiB before any body: read with a tiny body.
        let lo = 1;
        let hi = 128;
        while (hi - lo > 1) {
          const mib = (lo + hi) >> 1;
          const r = await run(capped, `peak-${p}-${mib}`, p, 1, mib);
          const fits = r.statuses[0] === 200;
          results.peak.runs.push({ path: p, bodyMiB: mib, fits });
          log(`${p.padEnd(10)} 1 × ${String(mib).padStart(3)} MiB in ${HEAP_MIB} MiB isolates: ${fits ? "fits" : "does not fit"}`);
          if (fits) lo = mib;
          else hi = mib;
        }
        results.peak.largestSingleMiB[p] = lo;
      }
    }
    if (ONLY.has("capacity")) {
      for (const p of PATHS) {
        for (const mib of CAPACITY_SIZES) {
          const r = await run(capped, `capped-${p}-4x${mib}`, p, 4, mib);
          const fits = r.statuses.every((s) => s === 200);
          results.capacity.runs.push({ path: p, bodyMiB: mib, fits, statuses: r.statuses, peakMiB: r.peakMiB });
          log(`${p.padEnd(10)} 4 × ${String(mib).padStart(2)} MiB in ${HEAP_MIB} MiB isolates: ${fits ? "fits" : "does not fit"} (${r.statuses.join(",")})`);
          if (!fits) break;
          results.capacity.largestFittingMiB[p] = mib;
        }
      }
    }
  } finally {
    await upstream.stop();
  }
  results.machine.loadAfter = loadAverage();
  writeFileSync(path.join(import.meta.dirname, "memory.json"), JSON.stringify(results, null, 2) + "\n");
  report(results);
}

async function measure(gw, key, model, mib, n) {
  const url = `${gw.url}/genai/v1beta/models/${model}:generateContent`;
  const call = (b) => fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-goog-api-key": key }, body: b }).then(async (r) => ({ status: r.status, text: await r.text() }));
  const warm = await call(body(1024));
  if (warm.status !== 200) throw new Error(`warm-up answered ${warm.status}: ${warm.text.slice(0, 200)}`);
  await sleep(300);
  const before = memMiB(gw.pid);
  const b = body(mib * MiB);
  // A process killed mid-call (out of memory) fails the calls in flight: recorded as status 0.
  const answers = await Promise.all(Array.from({ length: n }, () => call(b).catch(() => ({ status: 0, text: "" }))));
  await sleep(300);
  let after;
  try {
    after = memMiB(gw.pid);
  } catch {
    after = { rss: NaN, hwm: NaN };
  }
  const growth = after.hwm - before.rss;
  return {
    bodyBytes: b.length,
    warmMiB: before.rss,
    peakMiB: after.hwm,
    growthMiB: growth,
    perBodyMiB: growth / ((b.length * n) / MiB),
    statuses: answers.map((a) => a.status),
  };
}

function report(r) {
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
  if (r.perMiB.length) {
    console.log("path        calls × body  warm RSS  peak RSS  growth   per MiB of body");
    for (const x of r.perMiB) {
      console.log(`${x.path.padEnd(10)}  ${x.concurrent} × ${String(x.bodyMiB).padStart(2)} MiB  ${f(x.warmMiB).padStart(7)}  ${f(x.peakMiB).padStart(8)}  ${f(x.growthMiB).padStart(6)}   ${f(x.perBodyMiB, 2)}`);
    }
  }
  for (const [p, mib] of Object.entries(r.peak.largestSingleMiB)) {
    console.log(`largest single body in a ${r.peak.heapMiB} MiB isolate, ${p}: ${mib} MiB (≤ ${(r.peak.heapMiB / mib).toFixed(2)} MiB of heap per MiB of body at the call's peak)`);
  }
  if (r.capacity.runs.length) {
    console.log(`\n4 calls at once, V8 heap capped at ${r.capacity.heapMiB} MiB:`);
    for (const x of r.capacity.runs) console.log(`${x.path.padEnd(10)}  4 × ${String(x.bodyMiB).padStart(2)} MiB  ${x.fits ? "fits" : `does not fit (${x.statuses.join(",")})`}`);
    for (const [p, mib] of Object.entries(r.capacity.largestFittingMiB)) console.log(`largest body that fits 4 at once, ${p}: ${mib} MiB`);
  }
  console.log(`load average before ${r.machine.loadBefore.join(" ")}, after ${r.machine.loadAfter.join(" ")}; results in bench/memory.json`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
