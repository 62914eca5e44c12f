/**
 * Runs the bundled gateway in workerd through Miniflare, with the bindings wrangler.toml declares (KV, D1, any
 * Durable Objects), migrations applied, and vars of the test's choosing; plus loopback mock upstreams.
 */
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Miniflare } from "miniflare";
import { inject } from "vitest";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig, unstable_splitSqlQuery } from "wrangler";
import { shardName, USAGE_SHARDS } from "../../src/usage/shards";

const root = path.resolve(import.meta.dirname, "../..");
export const ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef";

export interface Gateway {
  /** Base URL of the gateway, e.g. http://127.0.0.1:PORT */
  url: string;
  mf: Miniflare;
  admin(pathname: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Creates a virtual key through the admin API and returns its secret and record. */
  createKey(fields?: Record<string, unknown>): Promise<{ key: string; id: string }>;
  /**
   * The usage row of a call, once it is in D1: has every buffer shard write what it holds (rather than wait for
   * its alarm), polling briefly while the call's hand-off may still be on its way (it runs after the response).
   */
  usageRow(requestId: string | null): Promise<Record<string, unknown>>;
  /** Writes every row the usage buffer shards hold to D1 now (rows otherwise arrive within about a second). */
  flushUsage(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A fake Workers AI: what `env.AI.run(model, inputs)` answers, decided in Node. A ReadableStream answer (of SSE
 * bytes) is what the binding returns for `stream: true`; anything else is its JSON answer; a thrown Error is
 * thrown by `run` with the same message.
 */
export type FakeAi = (model: string, inputs: any) => unknown | Promise<unknown>;

/** The binding's JavaScript side, as a wrapped binding: `run` asks Node (through a function service binding). */
const FAKE_AI_SCRIPT = `
export default function (env) {
  return {
    async run(model, inputs, options) {
      const res = await env.BACKEND.fetch("http://fake-ai/run", { method: "POST", body: JSON.stringify({ model, inputs }), signal: options?.signal });
      if (res.headers.get("x-fake-ai") === "error") throw new Error(await res.text());
      return res.headers.get("content-type") === "text/event-stream" ? res.body : res.json();
    },
  };
}`;

/**
 * Miniflare's options for wrangler.toml as shipped: its bindings, and as vars only its `[vars]`. Wrangler also reads
 * a `.dev.vars` (or `.env`) next to the config, which `npm start` writes (ADMIN_TOKEN, MOCK_PROVIDER="on"); those
 * are this clone's local settings, not the shipped config, and must not change what the tests see.
 */
export function shippedWorkerOptions(configPath = path.join(root, "wrangler.toml")) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
  const vars = unstable_readConfig({ config: configPath }).vars as Record<string, unknown>;
  return { ...workerOptions, bindings: { ...vars } };
}

/**
 * `vars` go over wrangler.toml's; the mock provider is on unless `MOCK_PROVIDER: undefined` leaves wrangler.toml's
 * setting (off).
 */
export async function startGateway(vars: Record<string, string | undefined> = {}, opts: { ai?: FakeAi } = {}): Promise<Gateway> {
  const workerOptions = shippedWorkerOptions();
  const bindings: Record<string, unknown> = { ...(workerOptions.bindings ?? {}), ADMIN_TOKEN, MOCK_PROVIDER: "on", ...vars };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const main = {
    ...(workerOptions as object),
    name: "edgeway",
    modules: true,
    scriptPath: inject("bundlePath"),
    bindings,
  };
  const ai = opts.ai;
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: ai
      ? [
        { ...main, wrappedBindings: { AI: { scriptName: "fake-ai" } } },
        {
          name: "fake-ai",
          modules: true,
          script: FAKE_AI_SCRIPT,
          serviceBindings: {
            async BACKEND(request: Request) {
              const { model, inputs } = (await request.json()) as { model: string; inputs: unknown };
              try {
                const out = await ai(model, inputs);
                if (out instanceof ReadableStream) return new Response(out, { headers: { "content-type": "text/event-stream" } });
                return Response.json(out);
              } catch (e) {
                return new Response((e as Error).message, { headers: { "x-fake-ai": "error" } });
              }
            },
          },
        },
      ]
      : [main],
  } as unknown as ConstructorParameters<typeof Miniflare>[0]);
  const url = (await mf.ready).origin;
  await applyMigrations(await mf.getD1Database("DB"));

  const admin = (pathname: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${url}/admin${pathname}`, {
      method: init.method ?? (init.body ? "POST" : "GET"),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  const flushUsage = async () => {
    const shards = await mf.getDurableObjectNamespace("USAGE_BUFFER");
    await Promise.all(Array.from({ length: USAGE_SHARDS }, (_, n) => (shards.get(shards.idFromName(shardName(n))) as unknown as { flush(): Promise<unknown> }).flush()));
  };
  return {
    url,
    mf,
    admin,
    flushUsage,
    async createKey(fields = {}) {
      const r = await admin("/keys", { body: { name: "e2e", ...fields } });
      if (r.status !== 201) throw new Error(`createKey: ${r.status} ${await r.text()}`);
      return (await r.json()) as { key: string; id: string };
    },
    async usageRow(requestId) {
      const db = await mf.getD1Database("DB");
      for (let i = 0; i < 100; i++) {
        await flushUsage();
        const row = await db.prepare("SELECT * FROM usage WHERE request_id = ?").bind(requestId).first<Record<string, unknown>>();
        if (row) return row;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no usage row for ${requestId}`);
    },
    stop: () => mf.dispose(),
  };
}

async function applyMigrations(db: Awaited<ReturnType<Miniflare["getD1Database"]>>) {
  const dir = path.join(root, "migrations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    for (const sql of unstable_splitSqlQuery(readFileSync(path.join(dir, file), "utf8"))) await db.prepare(sql).run();
  }
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface MockUpstream {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** A loopback HTTP server that speaks whatever wire format `handle` writes. */
export async function mockUpstream(
  handle: (req: SeenRequest, res: http.ServerResponse) => void | Promise<void>,
): Promise<MockUpstream> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(seen);
      try {
        await handle(seen, res);
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
