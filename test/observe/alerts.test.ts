/**
 * Alerts: deliveries signed as a receiver verifies them, retried with the same id after a 500, bounded by a timeout
 * when the receiver hangs, never following a redirect, never to a private address; budget thresholds once each and
 * in order (several in one call; two calls at once), key.expiring from the cron's scan, credential.cooled from a
 * pool, and a Slack-shaped message.
 */
import { env } from "cloudflare:test";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { cooledAlertsSettled, cooledListener } from "../../src/alerts/cooled";
import { budgetCrossings, credentialCooled } from "../../src/alerts/events";
import { queueExpiringKeys } from "../../src/alerts/expiring";
import { deliverDue, enqueue, raise, retryDelay } from "../../src/alerts/outbox";
import { refusedUrl } from "../../src/alerts/send";
import { CredentialPool } from "../../src/providers/credentials/pool";
import { createTeam } from "../helpers/governance";
import { admin, createKey, flushUsage, genaiCall, genaiSettled, textRequest } from "../helpers/worker";

vi.setConfig({ testTimeout: 60_000 });

const HOOK = "https://alerts.example.com/hook";
const SECRET = "whsec-test-0123456789";
const VARS = { ALERT_WEBHOOK_URL: HOOK, ALERT_WEBHOOK_SECRET: SECRET, ALERT_BUDGET_THRESHOLDS: "10,50,80" };
const saved: Record<string, unknown> = {};

// The Governors read the Worker's env: the alert vars are set on it for this file, and taken off after.
beforeAll(() => {
  for (const [k, v] of Object.entries(VARS)) {
    saved[k] = (env as any)[k];
    (env as any)[k] = v;
  }
});
afterAll(() => {
  for (const k of Object.keys(VARS)) (env as any)[k] = saved[k];
});
beforeEach(async () => {
  await env.DB.prepare("DELETE FROM alert_outbox").run();
});
afterEach(() => vi.restoreAllMocks());

type Delivery = { url: string; redirect: string; headers: Headers; body: string; signal: AbortSignal };

/** A receiver at HOOK (`answer` per delivery); any other URL is an upstream call answered by `upstream`. */
function receiver(answer: (d: Delivery, n: number) => Response | Promise<Response>, upstream?: (req: Request) => Response) {
  const got: Delivery[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    if (!req.url.startsWith(HOOK)) {
      if (upstream) return upstream(req);
      throw new Error(`unexpected fetch ${req.url}`);
    }
    const d = { url: req.url, redirect: init?.redirect ?? req.redirect, headers: req.headers, body: await req.text(), signal: req.signal };
    got.push(d);
    return answer(d, got.length);
  });
  return got;
}

/** What a receiver does: recompute the HMAC over "<timestamp>.<body>" with the shared secret, compare. */
async function verify(d: Delivery, secret = SECRET): Promise<boolean> {
  const ts = d.headers.get("x-edgeway-timestamp")!;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${ts}.${d.body}`)));
  const hex = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
  return d.headers.get("x-edgeway-signature") === `sha256=${hex}` && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
}

const outbox = () => env.DB.prepare("SELECT * FROM alert_outbox ORDER BY created_at, rowid").all<Record<string, any>>().then((r) => r.results);

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const draft = (seed: string) => credentialCooled({ provider: "gemini", label: seed, fault: "credential", model: "m", until: Date.now() + 60_000 });

describe("webhook deliveries", () => {
  it("are signed as the contract says, and a receiver verifying them accepts them", async () => {
    const got = receiver(() => new Response("ok"));
    await raise(env, [draft("a")]);
    expect(got).toHaveLength(1);
    expect(got[0]!.redirect).toBe("manual");
    expect(await verify(got[0]!)).toBe(true);
    expect(await verify(got[0]!, "another secret")).toBe(false);
    const e = JSON.parse(got[0]!.body);
    expect(Object.keys(e)).toEqual(["id", "type", "at", "subject", "data"]);
    expect(e).toMatchObject({ type: "credential.cooled", subject: { kind: "credential", id: "gemini/a", name: "a" }, data: { provider: "gemini", credential: "a", reason: "refused" } });
    expect((await outbox())[0]).toMatchObject({ id: e.id, state: "delivered", attempts: 1, last_status: 200 });
  });

  it("retries a receiver that answered 500, with backoff and the same id", async () => {
    const got = receiver((_, n) => new Response(n === 1 ? "down" : "ok", { status: n === 1 ? 500 : 200 }));
    await raise(env, [draft("b")]);
    let [row] = await outbox();
    expect(row).toMatchObject({ state: "pending", attempts: 1, last_status: 500, last_error: "receiver answered 500" });
    expect(row!.next_at - Date.now()).toBeGreaterThan(retryDelay(1) - 5_000);
    // Not due yet: nothing sent.
    expect(await deliverDue(env)).toEqual({ delivered: 0, retrying: 0, failed: 0 });
    // An hour later (the receiver was down that long), the cron's run delivers it.
    expect(await deliverDue(env, { now: Date.now() + 3_600_000 })).toEqual({ delivered: 1, retrying: 0, failed: 0 });
    [row] = await outbox();
    expect(row).toMatchObject({ state: "delivered", attempts: 2, last_status: 200 });
    expect(got).toHaveLength(2);
    expect(JSON.parse(got[1]!.body).id).toBe(JSON.parse(got[0]!.body).id);
    expect(await verify(got[1]!)).toBe(true);
  });

  it("gives up on a receiver that hangs after the timeout, and keeps the delivery for a retry", async () => {
    const got = receiver((d) => new Promise((_, reject) => d.signal.addEventListener("abort", () => reject(d.signal.reason), { once: true })));
    await enqueue(env.DB, [draft("c")]);
    const t0 = Date.now();
    expect(await deliverDue(env, { timeoutMs: 300 })).toEqual({ delivered: 0, retrying: 1, failed: 0 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(got).toHaveLength(1);
    expect((await outbox())[0]).toMatchObject({ state: "pending", attempts: 1, last_status: null, last_error: "no answer within 300 ms" });
  });

  it("never follows a redirect", async () => {
    const got = receiver(() => new Response(null, { status: 302, headers: { location: "http://169.254.169.254/latest" } }));
    await raise(env, [draft("d")]);
    expect(got).toHaveLength(1);
    expect(got[0]!.redirect).toBe("manual");
    expect((await outbox())[0]).toMatchObject({ state: "pending", last_status: 302, last_error: "redirect to http://169.254.169.254/latest not followed" });
  });

  it("refuses private, loopback and link-local addresses and plain http, unless ALERT_ALLOW_PRIVATE=on", async () => {
    for (const url of ["https://127.0.0.1/x", "https://2130706433/x", "https://10.1.2.3/", "https://192.168.0.9/", "https://172.20.0.1/", "https://169.254.169.254/", "https://[::1]/", "https://[fd00::1]/", "https://[::ffff:127.0.0.1]/", "https://localhost/", "https://db.internal/", "http://example.com/hook"]) {
      expect(refusedUrl(url, false), url).toBeDefined();
    }
    expect(refusedUrl("https://hooks.slack.com/services/T/B/x", false)).toBeUndefined();
    expect(refusedUrl("http://127.0.0.1:8787/hook", true)).toBeUndefined();
    const got = receiver(() => new Response("ok"));
    const local = { ...env, ALERT_WEBHOOK_URL: "https://127.0.0.1/hook" };
    await raise(local, [draft("e")]);
    expect(got).toHaveLength(0);
    expect((await outbox())[0]).toMatchObject({ state: "pending", last_status: null });
    expect((await outbox())[0]!.last_error).toMatch(/private, loopback or link-local/);
  });

  it("posts a Slack-compatible message with ALERT_FORMAT=slack", async () => {
    const got = receiver(() => new Response("ok"));
    const subject = { kind: "team" as const, id: "t1", name: "ml" };
    await raise({ ...env, ALERT_FORMAT: "slack" }, budgetCrossings(subject, { max_usd: 10, period: "1d" }, 0, 4, 8.5, [50, 80, 100]));
    expect(got.map((d) => JSON.parse(d.body))).toEqual([
      { text: expect.stringMatching(/^:warning: edgeway: team "ml" has spent 50% of its 1d budget \(\$8\.5 of \$10\) \(alert alert_[0-9a-f]{32}\)$/) },
      { text: expect.stringContaining("spent 80%") },
    ]);
    expect(await verify(got[0]!)).toBe(true);
  });

  it("writes an event once however often or concurrently it is raised (its id is stable)", async () => {
    const got = receiver(() => new Response("ok"));
    await Promise.all([raise(env, [draft("f")]), raise(env, [draft("f")]), raise(env, [draft("f")])]);
    expect(await outbox()).toHaveLength(1);
    expect(got).toHaveLength(1);
  });
});

describe("budget.threshold", () => {
  // mock/echo on "hi" with an output cap of 11 tokens costs $0.000023 (test/governance/budgets.test.ts).
  const hi = textRequest("hi", { generationConfig: { maxOutputTokens: 11 } });

  it("one delivery per threshold a single call crosses, in ascending order", async () => {
    const got = receiver(() => new Response("ok"));
    const { key, id } = await createKey({ name: "spender", budget: { max_usd: 0.000025, period: "1d" } });
    expect((await genaiSettled("mock/echo", "generateContent", hi, key)).status).toBe(200);
    const rows = await until(outbox, (r) => r.filter((x) => x.state === "delivered").length >= 3);
    expect(rows.map((r) => r.state)).toEqual(["delivered", "delivered", "delivered"]);
    const events = got.map((d) => JSON.parse(d.body));
    expect(events.map((e) => [e.type, e.subject.kind, e.subject.id, e.subject.name, e.data.threshold_percent])).toEqual([
      ["budget.threshold", "key", id, "spender", 10], ["budget.threshold", "key", id, "spender", 50], ["budget.threshold", "key", id, "spender", 80],
    ]);
    expect(events[0].data).toMatchObject({ period: "1d", budget_usd: 0.000025, spent_usd: 0.000023 });
    for (const d of got) expect(await verify(d)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });

  it("two calls at once crossing a team's threshold: one delivery for it", async () => {
    const got = receiver(() => new Response("ok"));
    const team = await createTeam({ name: "racers", budget: { max_usd: 0.00008, period: "1d" } });
    const [a, b] = await Promise.all([createKey({ team_id: team.id }), createKey({ team_id: team.id })]);
    const calls = await Promise.all([a!, b!].map((k) => genaiCall("mock/echo", "generateContent", hi, k.key)));
    await Promise.all(calls.map(async (c) => (await c.res.text(), await c.settled())));
    await flushUsage();
    // Each call is 28.75% of the team's budget: 10% is crossed by the first, 50% by the second, 80% by neither.
    const rows = await until(outbox, (r) => r.filter((x) => x.state === "delivered").length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    const teamEvents = got.map((d) => JSON.parse(d.body)).filter((e) => e.subject.kind === "team");
    expect(teamEvents.map((e) => e.data.threshold_percent)).toEqual([10, 50]);
    expect(rows.filter((r) => r.type === "budget.threshold")).toHaveLength(2);
  });
});

describe("key.expiring and credential.cooled", () => {
  it("queues a key expiring within the week once, not one expiring later", async () => {
    const soon = await createKey({ name: "soon", expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString() });
    await createKey({ name: "later", expires_at: new Date(Date.now() + 30 * 86_400_000).toISOString() });
    expect(await queueExpiringKeys(env)).toBeGreaterThanOrEqual(1);
    expect(await queueExpiringKeys(env)).toBe(0); // the same key and expiry: the same event
    const rows = (await outbox()).map((r) => JSON.parse(r.body));
    const mine = rows.filter((e) => e.subject.id === soon.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ type: "key.expiring", subject: { kind: "key", name: "soon" }, data: { expires_at: soon.expires_at, expires_in_hours: 72 } });
    expect(rows.some((e) => e.subject.name === "later")).toBe(false);
  });

  it("a pool credential that starts a cool-down raises one event per hour", async () => {
    const got = receiver(() => new Response("ok"));
    const pool = new CredentialPool("gemini", [{ label: "team-a", secrets: ["s"], material: "s", weight: 1 }]);
    pool.onCooled = cooledListener(env);
    pool.cool(pool.credentials[0]!, "model", "gemini-2.5-flash", 30_000);
    pool.cool(pool.credentials[0]!, "model", "gemini-2.5-flash", 30_000); // still cooling: no second event
    await cooledAlertsSettled();
    expect(got.map((d) => JSON.parse(d.body))).toEqual([
      expect.objectContaining({ type: "credential.cooled", subject: { kind: "credential", id: "gemini/team-a", name: "team-a" }, data: expect.objectContaining({ reason: "throttled", model: "gemini-2.5-flash" }) }),
    ]);
  });

  it("an upstream 429 on a call cools the credential and raises credential.cooled (alerts on in the config)", async () => {
    const got = receiver(() => new Response("ok"), () => Response.json({ error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" } }, { status: 429 }));
    const { key } = await createKey();
    const { res, settled } = await genaiCall("gemini/gemini-2.5-flash", "generateContent", textRequest("x"), key, { env: { ALERT_FORMAT: "json" } as any });
    expect(res.status).toBe(429);
    await res.text();
    await settled();
    await cooledAlertsSettled();
    const events = got.map((d) => JSON.parse(d.body)).filter((e) => e.type === "credential.cooled");
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ provider: "gemini", reason: "throttled", model: "gemini-2.5-flash" });
  });

  it("GET /admin/alerts lists deliveries newest first with their state", async () => {
    receiver(() => new Response("ok"));
    await raise(env, [draft("g")]);
    const r = await admin("/alerts");
    expect(r.status).toBe(200);
    const { alerts } = await r.json<{ alerts: any[] }>();
    expect(alerts[0]).toMatchObject({ type: "credential.cooled", state: "delivered", attempts: 1, last_status: 200, event: { type: "credential.cooled" } });
  });
});
