/** The timing goals of issue 7. They live here, in bench/, and nowhere near a test or CI step. */
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const sg = (x, d = 2) => (Number.isFinite(x) && x >= 0 ? "+" : "") + f(x, d);

export const targets = [
  {
    name: "non-streaming throughput",
    goal: "≥ 0.90 × bare",
    check: (r) => r.throughput && [r.throughput.summary.ratio.rps >= 0.9, `× ${f(r.throughput.summary.ratio.rps, 3)}`],
  },
  {
    name: "added p50 latency (1 conn)",
    goal: "≤ 0.3 ms",
    check: (r) => r.latency && [r.latency.summary.added.p50 <= 0.3, `${sg(r.latency.summary.added.p50, 3)} ms`],
  },
  {
    name: "CPU per request",
    goal: "≤ 1.25 × bare",
    check: (r) => r.throughput && [r.throughput.summary.ratio.cpu <= 1.25, `× ${f(r.throughput.summary.ratio.cpu, 3)}`],
  },
  {
    name: "added stream TTFB",
    goal: "≤ 1 ms",
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
    goal: "peak RSS growth < ¼ of the stream",
    check: (r) => r.memory && [r.memory.gateway.peakGrowthMiB < r.memory.streamedMiB / 4, `${sg(r.memory.gateway.peakGrowthMiB, 1)} MiB for ${r.memory.streamedMiB} MiB`],
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
