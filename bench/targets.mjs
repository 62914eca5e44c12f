/** The timing goals (issues 7 and 12). They live here, in bench/, and nowhere near a test or CI step. */
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const sg = (x, d = 2) => (Number.isFinite(x) && x >= 0 ? "+" : "") + f(x, d);

export const targets = [
  {
    name: "non-streaming throughput",
    goal: "≥ 0.60 × bare",
    check: (r) => r.throughput && [r.throughput.summary.ratio.rps >= 0.6, `× ${f(r.throughput.summary.ratio.rps, 3)}`],
  },
  {
    name: "added p50 latency (1 conn)",
    goal: "≤ 0.20 ms",
    check: (r) => r.latency && [r.latency.summary.added.p50 <= 0.2, `${sg(r.latency.summary.added.p50, 3)} ms`],
  },
  {
    name: "CPU per request",
    goal: "≤ 2.0 × bare",
    check: (r) => r.throughput && [r.throughput.summary.ratio.cpu <= 2.0, `× ${f(r.throughput.summary.ratio.cpu, 3)}`],
  },
  {
    name: "far objects, key without limits",
    goal: "added p50 ≤ 1 ms",
    check: (r) => r.governance?.far?.["no limits"] && [r.governance.far["no limits"].addedP50 <= 1, `${sg(r.governance.far["no limits"].addedP50, 3)} ms`],
  },
  {
    name: "far objects, key with rpm 6000",
    goal: "added mean ≤ 5 ms",
    check: (r) => r.governance?.far?.["rpm 6000"] && [r.governance.far["rpm 6000"].addedMean <= 5, `${sg(r.governance.far["rpm 6000"].addedMean, 3)} ms`],
  },
  {
    name: "guardrails pii CPU per KiB checked",
    goal: "≤ 0.05 ms",
    check: (r) => {
      const g = r.guardrails?.[`c${r.options?.connections}`];
      return g && [g.cpuMsPerKiB <= 0.05, `${f(g.cpuMsPerKiB, 4)} ms/KiB`];
    },
  },
  {
    name: "traces on: CPU per call",
    goal: "≤ +0.02 ms",
    check: (r) => r.traces && [r.traces.addedCpuMs <= 0.02, `${sg(r.traces.addedCpuMs, 3)} ms`],
  },
  {
    name: "cache hit throughput",
    goal: "≥ 1.0 × bare",
    check: (r) => r.cache?.[`c${r.options?.connections}`] && [r.cache[`c${r.options.connections}`].hitVsLimit.rps >= 1, `× ${f(r.cache[`c${r.options.connections}`].hitVsLimit.rps, 3)}`],
  },
  {
    name: "cache hit added p50 (1 conn)",
    goal: "≤ 0.2 ms",
    check: (r) => r.cache?.c1 && [r.cache.c1.hitVsLimit.addedP50 <= 0.2, `${sg(r.cache.c1.hitVsLimit.addedP50, 3)} ms`],
  },
  {
    name: "cache miss CPU vs no policy",
    goal: "≤ +0.02 ms",
    check: (r) => r.cache?.[`c${r.options?.connections}`]?.missAddedCpuMs !== undefined && [r.cache[`c${r.options.connections}`].missAddedCpuMs <= 0.02, `${sg(r.cache[`c${r.options.connections}`].missAddedCpuMs, 3)} ms`],
  },
  {
    name: "added stream TTFB",
    goal: "≤ 1 ms (warm isolates)",
    check: (r) => r.streaming && [r.streaming.added.ttfbMs <= 1, `${sg(r.streaming.added.ttfbMs, 3)} ms`],
  },
  {
    name: "chunks held back",
    goal: "0",
    check: (r) => r.streaming && [r.streaming.gateway.heldBack === 0 && r.streaming.gateway.missing === 0, `${r.streaming.gateway.heldBack} held, ${r.streaming.gateway.missing} missing of ${r.streaming.gateway.chunks}`],
  },
  {
    name: "translated throughput (openai)",
    goal: "≥ 0.85 × native",
    check: (r) => r.translation && (r.translation.skipped ? [null, "skipped (no openai provider)"] : [r.translation.summary.ratio.rps >= 0.85, `× ${f(r.translation.summary.ratio.rps, 3)}`]),
  },
  {
    name: "flat memory on a big stream",
    goal: "peak RSS growth ≤ 32 MiB (100 MiB stream)",
    check: (r) => r.memory && [r.memory.gateway.peakGrowthMiB <= 32, `${sg(r.memory.gateway.peakGrowthMiB, 1)} MiB for ${r.memory.streamedMiB} MiB`],
  },
  {
    name: "bundle size",
    goal: "≤ 64 KiB gzip",
    check: (r) => r.bundle && [r.bundle.gzipKiB <= 64, `${f(r.bundle.gzipKiB, 1)} KiB`],
  },
];

/** Each target against the results; `pass` is null when its section did not run or was skipped. */
export function judge(results) {
  return targets.map((t) => {
    const c = t.check(results);
    return { name: t.name, goal: t.goal, measured: c ? c[1] : "not run", pass: c ? c[0] : null };
  });
}
