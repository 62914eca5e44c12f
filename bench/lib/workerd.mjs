/**
 * Plain `workerd serve` processes for the bench: the gateway (with the bindings wrangler.toml declares), the bare
 * pass-through Worker, and the mock upstream. Every process gets a capnp config (binary, encoded with Miniflare's
 * own serializer) and serves its Worker directly on a loopback socket: no wrangler dev proxy, no Miniflare entry
 * Worker in front.
 *
 * The gateway's bindings come from Miniflare's generated config (so KV, D1, Durable Objects and whatever wrangler.toml
 * grows next are wired exactly as `wrangler dev` wires them), minus the parts that are Miniflare's dev machinery
 * rather than the Worker's: the entry Worker, and the outbound hop that strips CF-Connecting-IP.
 */
import { spawn } from "node:child_process";
import { startCacheSink } from "./cache-sink.mjs";
import { startD1Sink } from "./d1-sink.mjs";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { Miniflare, serializeConfig } from "miniflare";
import workerd from "workerd";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";

// The native binary (not an npm shim), so the pid measured is the server itself.
export const WORKERD = workerd.default ?? workerd;
const USER_SERVICE = "core:user:edgeway";
const NETWORK = { name: "internet", network: { allow: ["public", "private"], deny: [] } };

/**
 * Builds the gateway's workerd config once: Miniflare assembles it from wrangler.toml (state persisted under
 * `stateDir`), the D1 migrations are applied through the same Miniflare, then Miniflare is disposed and only its
 * config is kept. `vars` are the Worker's vars/secrets; change them later with `withVars`.
 */
export async function prepareGateway({ root, bundlePath, stateDir, vars, d1 = "sink", cache = "sink", config = path.join(root, "wrangler.toml"), sink, cacheSink }) {
  const dumpPath = path.join(stateDir, "miniflare-config.json");
  mkdirSync(stateDir, { recursive: true });
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  const prevDump = process.env.MINIFLARE_WORKERD_CONFIG_DEBUG;
  process.env.MINIFLARE_WORKERD_CONFIG_DEBUG = dumpPath;
  const mf = new Miniflare({
    ...workerOptions,
    name: "edgeway",
    modules: true,
    modulesRoot: path.dirname(bundlePath),
    scriptPath: bundlePath,
    bindings: { ...(workerOptions.bindings ?? {}), ...vars },
    host: "127.0.0.1",
    port: 0,
    defaultPersistRoot: stateDir,
  });
  try {
    await mf.ready;
    await applyMigrations(root, await mf.getD1Database("DB"));
  } finally {
    await mf.dispose();
    if (prevDump === undefined) delete process.env.MINIFLARE_WORKERD_CONFIG_DEBUG;
    else process.env.MINIFLARE_WORKERD_CONFIG_DEBUG = prevDump;
  }
  if (d1 === "sink") sink ??= await startD1Sink();
  if (cache === "sink") cacheSink ??= await startCacheSink();
  return gatewayConfig(JSON.parse(readFileSync(dumpPath, "utf8")), { d1, sink, cacheSink });
}

async function applyMigrations(root, db) {
  const dir = path.join(root, "migrations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    for (const sql of unstable_splitSqlQuery(readFileSync(path.join(dir, file), "utf8"))) await db.prepare(sql).run();
  }
}

/**
 * Miniflare's config → the gateway served directly, with only the services its Worker reaches. With `d1: "sink"`
 * every D1 binding talks over a socket to a stand-in outside the process that answers at once (lib/d1-sink.mjs),
 * instead of local SQLite; with a `cacheSink` the Cache API goes to a stand-in outside the process (lib/cache-sink.mjs)
 * instead of Miniflare's simulator.
 */
function gatewayConfig(mfConfig, { d1, sink, cacheSink }) {
  const byName = new Map(mfConfig.services.map((s) => [s.name, s]));
  const user = structuredClone(byName.get(USER_SERVICE));
  if (!user) throw new Error(`Miniflare config has no ${USER_SERVICE} service`);
  // Production Workers fetch straight out; Miniflare's extra outbound Worker is dev-only.
  user.worker.globalOutbound = { name: NETWORK.name };
  delete user.worker.containerEngine;
  byName.set(USER_SERVICE, user);
  if (d1 === "sink") {
    byName.set("d1-sink", { name: "d1-sink", external: { address: sink.address, http: {} } });
    for (const b of user.worker.bindings) {
      if (b.wrapped?.moduleName !== "cloudflare-internal:d1-api") continue;
      for (const inner of b.wrapped.innerBindings) if (inner.service) inner.service = { name: "d1-sink" };
    }
  }
  if (cacheSink) {
    byName.set("cache-sink", { name: "cache-sink", external: { address: cacheSink.address, http: {} } });
    user.worker.cacheApiOutbound = { name: "cache-sink" };
  }
  byName.set(NETWORK.name, NETWORK);
  // Miniflare's loopback (its Node server) is gone: point it at a closed port; only dev helpers call it.
  const loop = byName.get("loopback");
  if (loop?.external) byName.set("loopback", { ...loop, external: { ...loop.external, address: "127.0.0.1:9" } });

  const keep = new Set();
  const visit = (name) => {
    if (keep.has(name) || !byName.has(name)) return;
    keep.add(name);
    collectNames(byName.get(name), (n) => visit(n));
  };
  visit(USER_SERVICE);
  const sockets = [{ name: "http", address: "127.0.0.1:0", http: {}, service: { name: USER_SERVICE } }];
  return {
    services: [...keep].map((n) => byName.get(n)),
    sockets,
    extensions: mfConfig.extensions ?? [],
  };
}

/** Every string in a service that may name another service (designators, DO namespaces, disk storage). */
function collectNames(o, f) {
  if (typeof o === "string") return f(o);
  if (!o || typeof o !== "object") return;
  for (const [k, v] of Object.entries(o)) {
    if (k === "esModule" || k === "commonJsModule" || k === "text" || k === "json") continue;
    collectNames(v, f);
  }
}

/** The gateway config with some vars (text bindings) set or replaced. */
export function withVars(config, vars) {
  const c = structuredClone(config);
  const worker = c.services.find((s) => s.name === USER_SERVICE).worker;
  for (const [name, text] of Object.entries(vars)) {
    const b = worker.bindings.find((x) => x.name === name);
    if (b) b.text = text;
    else worker.bindings.push({ name, text });
  }
  return c;
}

/**
 * The gateway config with a wrapper module (`modulePath`) as its main module, importing the bundle as `./index.js`
 * (e.g. workers/far-objects.mjs, which delays every Durable Object call).
 */
export function withMainModule(config, modulePath) {
  const c = structuredClone(config);
  const worker = c.services.find((s) => s.name === USER_SERVICE).worker;
  worker.modules = [{ name: path.basename(modulePath), esModule: readFileSync(modulePath, "utf8") }, ...worker.modules];
  return c;
}

export function compatOf(config) {
  const w = config.services.find((s) => s.name === USER_SERVICE).worker;
  return { compatibilityDate: w.compatibilityDate, compatibilityFlags: w.compatibilityFlags ?? [] };
}

/** A one-module Worker (bare pass-through, mock upstream) with the same compatibility settings as the gateway. */
export function simpleConfig({ name, modulePath, compat, bindings = [] }) {
  return {
    services: [
      {
        name,
        worker: {
          modules: [{ name: path.basename(modulePath), esModule: readFileSync(modulePath, "utf8") }],
          ...compat,
          bindings,
          globalOutbound: { name: NETWORK.name },
        },
      },
      NETWORK,
    ],
    sockets: [{ name: "http", address: "127.0.0.1:0", http: {}, service: { name } }],
  };
}

/**
 * Spawns `workerd serve --binary` on a config and resolves once its socket listens. `t0` (performance.now() at
 * spawn) and `listenAt` let callers time a cold start.
 */
export async function serve(config, { dir, label, timeoutMs = 30_000, args = [] }) {
  mkdirSync(dir, { recursive: true });
  const cfgPath = path.join(dir, `${label}.capnp.bin`);
  writeFileSync(cfgPath, serializeConfig(config));
  const t0 = performance.now();
  const proc = spawn(WORKERD, ["serve", "--binary", "--experimental", "--control-fd=3", ...args, cfgPath], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  const log = [];
  const keep = (l) => {
    log.push(l);
    if (log.length > 50) log.shift();
    if (process.env.BENCH_VERBOSE) console.error(`[${label}] ${l}`);
  };
  createInterface(proc.stdout).on("line", keep);
  createInterface(proc.stderr).on("line", keep);
  // Every socket's port by name; `http` is the one the process is ready with.
  const ports = {};
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${label}: workerd did not listen within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(new Error(`${e.message}\n${log.join("\n")}`));
    };
    proc.once("exit", (code) => fail(new Error(`${label}: workerd exited (${code})`)));
    proc.once("error", fail);
    createInterface(proc.stdio[3]).on("line", (l) => {
      try {
        const m = JSON.parse(l);
        if (m.event === "listen") ports[m.socket] = m.port;
        if (m.event === "listen" && m.socket === "http") {
          clearTimeout(timer);
          proc.removeAllListeners("exit");
          resolve(m.port);
        }
      } catch {}
    });
  });
  const listenAt = performance.now();
  return {
    label,
    pid: proc.pid,
    port,
    ports,
    url: `http://127.0.0.1:${port}`,
    t0,
    listenAt,
    log,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
        proc.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        proc.kill("SIGTERM");
      }),
  };
}
