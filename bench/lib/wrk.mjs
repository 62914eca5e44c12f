/** Runs wrk (the C load generator from Debian) and parses its report. */
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuMs } from "./proc.mjs";

const LUA = fileURLToPath(new URL("./post.lua", import.meta.url));

export function checkWrk() {
  try {
    execFileSync("wrk", ["-v"], { stdio: "pipe" });
  } catch (e) {
    // `wrk -v` prints its version and exits 1; only a missing binary is an error.
    if (e.code === "ENOENT") {
      console.error("bench: wrk is not installed. Install it with:\n  sudo apt-get update && sudo apt-get install -y wrk   (Debian/Ubuntu)\n  brew install wrk                                      (macOS)");
      process.exit(2);
    }
  }
}

/**
 * One bounded wrk run against `url`, measuring the CPU the server process `pid` spends meanwhile.
 * Returns requests/s, latency percentiles (ms), errors and CPU ms per request. `vary`: every request's body differs
 * (its "VARY" replaced by a fresh number; see post.lua).
 */
export async function runWrk({ url, body, key, pid, connections, seconds, threads = 1, vary = false }) {
  const cpu0 = cpuMs(pid);
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s", "-s", LUA, url];
  const out = await new Promise((resolve, reject) => {
    const p = spawn("wrk", args, { env: { ...process.env, BENCH_BODY: body, BENCH_KEY: key ?? "", BENCH_VARY: vary ? "1" : "" }, stdio: ["ignore", "pipe", "pipe"] });
    let s = "";
    p.stdout.on("data", (d) => (s += d));
    p.stderr.on("data", (d) => (s += d));
    const guard = setTimeout(() => p.kill("SIGKILL"), (seconds + 15) * 1000);
    p.on("exit", (code) => {
      clearTimeout(guard);
      code === 0 ? resolve(s) : reject(new Error(`wrk exited ${code}: ${s}`));
    });
  });
  const cpu = cpuMs(pid) - cpu0;
  const r = parseWrk(out);
  return { ...r, cpuMsPerReq: r.requests ? cpu / r.requests : NaN, cpuMs: cpu, connections, seconds };
}

const UNIT = { us: 1e-3, ms: 1, s: 1000, m: 60000 };
const dur = (v, u) => Number(v) * UNIT[u];

export function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? dur(m[1], m[2]) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors,
  };
}
