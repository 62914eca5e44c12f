/**
 * Live sessions and ephemeral tokens inside workerd, with the governance clock moved instead of waiting: token
 * lifetimes, rotation, LIVE_MAX_SESSION_SECONDS, an upstream that refuses or cannot be reached. The upstream is a
 * WebSocketPair the test holds (the gateway's fetch is stubbed to answer the upgrade with it).
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import worker from "../../src/index";
import { CredentialPool, resetCredentialHealth } from "../../src/providers/credentials/pool";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import { LEASE_MS } from "../../src/governance/ledger";
import { TOKEN_HOLD_MS } from "../../src/live/token-store";
import { createTeam, freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, mockUpstream, ownResource, rowWhenWritten } from "../helpers/worker";

const LIVE = "/genai/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const CONSTRAINED = "/genai/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained";
const SETUP = JSON.stringify({ setup: { model: "models/gemini-2.0-flash-live-001" } });

afterEach(() => vi.restoreAllMocks());

const connect = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });

function issue(key: string, body: Record<string, unknown> = {}, version = "v1alpha") {
  return SELF.fetch(`${BASE}/genai/${version}/auth_tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: JSON.stringify(body),
  });
}

async function token(key: string, body: Record<string, unknown> = {}): Promise<{ name: string; expireTime: string; newSessionExpireTime: string; uses: number }> {
  const r = await issue(key, body);
  expect(r.status).toBe(200);
  return r.json();
}

/** An upstream socket pair: the gateway's fetch answers the upgrade with one end; the test holds the other. */
function upstreamSocket() {
  const sockets: WebSocket[] = [];
  /** What each upstream socket received, in order. */
  const received: string[][] = [];
  const calls = mockUpstream(() => {
    const pair = new WebSocketPair();
    const seen: string[] = [];
    pair[1].accept();
    pair[1].addEventListener("message", (e) => {
      seen.push(e.data as string);
      if (typeof e.data !== "string" || !e.data.includes('"setup"')) return;
      pair[1].send(JSON.stringify({ setupComplete: {} }));
      if (JSON.parse(e.data).setup.sessionResumption) {
        pair[1].send(JSON.stringify({ sessionResumptionUpdate: { newHandle: `raw-handle-${sockets.length}`, resumable: true } }));
      }
    });
    sockets.push(pair[1]);
    received.push(seen);
    return new Response(null, { status: 101, webSocket: pair[0] });
  });
  return { calls, sockets, received };
}

/** Opens the client end of a session, sends the setup and waits for setupComplete. */
async function session(path: string, headers: Record<string, string> = {}, opts: { setup?: string; env?: Record<string, unknown> } = {}) {
  const req = new Request(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
  const res = opts.env ? await worker.fetch(req, { ...env, ...opts.env } as never, createExecutionContext()) : await SELF.fetch(req);
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: string[] = [];
  const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
  ws.addEventListener("message", (e) => {
    frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer));
  });
  ws.accept();
  ws.send(opts.setup ?? SETUP);
  await vi.waitFor(() => expect(frames.some((f) => f.includes("setupComplete"))).toBe(true));
  return { ws, frames, closed, requestId: res.headers.get("x-edgeway-request-id") };
}

const rowOf = rowWhenWritten;

describe("ephemeral tokens", () => {
  it("issues Google's defaults (1 use, 30 min, new sessions for 60 s); stores only the hash; the issue is a request of the key", async () => {
    const clock = freezeClock(Date.UTC(2026, 5, 1, 12));
    const { key, id } = await createKey();
    const r = await issue(key);
    const t = (await r.json()) as { name: string };
    expect(t).toEqual({
      name: expect.stringMatching(/^auth_tokens\/[A-Za-z0-9]{40}$/),
      uses: 1, expireTime: new Date(clock.now + 30 * 60_000).toISOString(), newSessionExpireTime: new Date(clock.now + 60_000).toISOString(),
    });
    // Named by its hash, and nothing in KV holds the token.
    const stub = env.EPHEMERAL_TOKENS.get(env.EPHEMERAL_TOKENS.idFromName(await sha256Hex(t.name)));
    expect(await stub.read(clock.now)).toMatchObject({ ok: true, record: { key_id: id, uses: 1, used: 0 } });
    const kv = await env.VIRTUAL_KEYS.list();
    for (const k of kv.keys) expect(JSON.stringify(await env.VIRTUAL_KEYS.get(k.name))).not.toContain(t.name.slice(12));
    expect(await rowOf(r.headers.get("x-edgeway-request-id"))).toMatchObject({ key_id: id, action: "createAuthToken", status: 200, cost_usd: 0 });
  });

  it("refuses bad requests: times past or beyond 20 hours, negative uses, unknown-provider locks, a wrong method", async () => {
    const clock = freezeClock();
    const { key } = await createKey();
    const at = (ms: number) => new Date(clock.now + ms).toISOString();
    expect((await issue(key, { expireTime: at(-1) })).status).toBe(400);
    expect((await issue(key, { newSessionExpireTime: at(21 * 3_600_000) })).status).toBe(400);
    expect((await issue(key, { uses: -1 })).status).toBe(400);
    expect((await issue(key, { uses: 1.5 })).status).toBe(400);
    expect((await issue(key, { bidiGenerateContentSetup: { model: "models/anthropic/claude-sonnet-4" } })).status).toBe(400);
    expect((await issue(key, { fieldMask: "a.b.c.d.e" })).status).toBe(400);
    expect((await SELF.fetch(`${BASE}/genai/v1alpha/auth_tokens`, { headers: { "x-goog-api-key": key } })).status).toBe(404);
    // New sessions cannot outlast the token.
    const t = await token(key, { expireTime: at(120_000), newSessionExpireTime: at(600_000) });
    expect(t.newSessionExpireTime).toBe(t.expireTime);
  });

  it("refuses a body over its limit, a revoked key, a key at its rate limit", async () => {
    const { key, id } = await createKey({ rate_limit: { rpm: 1 } });
    expect((await issue(key, { bidiGenerateContentSetup: { systemInstruction: "x".repeat(100_000) } })).status).toBe(413);
    expect((await issue(key)).status).toBe(200);
    expect((await issue(key)).status).toBe(429);
    await admin(`/keys/${id}`, { method: "DELETE" });
    expect((await issue(key)).status).toBe(403);
  });

  it("past newSessionExpireTime a token opens no session; past expireTime it is refused as expired (before the upgrade)", async () => {
    const clock = freezeClock();
    const { key } = await createKey();
    const t = await token(key, { uses: 0, expireTime: new Date(clock.now + 3_600_000).toISOString() });
    clock.advance(60_000);
    let r = await connect(`${CONSTRAINED}?access_token=${t.name}`);
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({
      error: { code: 401, message: "ephemeral token no longer opens new sessions (its newSessionExpireTime has passed)", status: "UNAUTHENTICATED" },
    });
    clock.advance(3_600_000);
    r = await connect(`${CONSTRAINED}?access_token=${t.name}`);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe("ephemeral token has expired");
    // Unknown and malformed tokens; the Authorization: Token spelling Gemini takes.
    expect((await connect(`${CONSTRAINED}?access_token=auth_tokens/${"A".repeat(40)}`)).status).toBe(401);
    expect((await connect(CONSTRAINED, { authorization: "Token auth_tokens/short" })).status).toBe(401);
  });

  it("a key's rotation ends the tokens it issued before", async () => {
    const { key, id } = await createKey();
    const t = await token(key, { uses: 3 });
    expect((await admin(`/keys/${id}/rotate`, { method: "POST" })).status).toBe(200);
    const r = await connect(`${CONSTRAINED}?access_token=${t.name}`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/rotated/);
  });

  it("a session opened with a token ends when the clock passes its expireTime (4401)", async () => {
    const clock = freezeClock();
    const { key } = await createKey();
    const t = await token(key, { uses: 1, expireTime: new Date(clock.now + 10 * 60_000).toISOString() });
    const { sockets } = upstreamSocket();
    const s = await session(`${CONSTRAINED}?access_token=${t.name}`);
    clock.advance(10 * 60_000);
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4401, "UNAUTHENTICATED: ephemeral token has expired"]);
    expect(sockets).toHaveLength(1);
    expect(await rowOf(s.requestId)).toMatchObject({ status: 401, closed_by: "gateway", close_code: 4401 });
  });
});

describe("a token's live sessions, resumed ones included", () => {
  const withResumption = (handle?: string) =>
    JSON.stringify({ setup: { model: "models/gemini-2.0-flash-live-001", sessionResumption: handle ? { handle } : {} } });

  /** Connects with `setup` and says how it went: `open` (setupComplete came) or the close code and reason. */
  async function attempt(path: string, setup: string): Promise<{ outcome: string; ws: WebSocket; requestId: string | null }> {
    const res = await SELF.fetch(new Request(`${BASE}${path}`, { headers: { upgrade: "websocket" } }));
    if (res.status !== 101) return { outcome: `http ${res.status}`, ws: undefined as never, requestId: res.headers.get("x-edgeway-request-id") };
    const ws = res.webSocket!;
    const outcome = new Promise<string>((resolve) => {
      ws.addEventListener("message", (e) => {
        if (String(e.data).includes("setupComplete")) resolve("open");
      });
      ws.addEventListener("close", (e) => resolve(`${e.code} ${e.reason}`));
    });
    ws.accept();
    ws.send(setup);
    return { outcome: await outcome, ws, requestId: res.headers.get("x-edgeway-request-id") };
  }

  /** A `uses`-token session that got a resumption handle, closed; the handle. */
  async function handleOf(uses: number) {
    const { key } = await createKey();
    const t = await token(key, { uses });
    const up = upstreamSocket();
    const path = `${CONSTRAINED}?access_token=${t.name}`;
    const first = await session(path, {}, { setup: withResumption() });
    await vi.waitFor(() => expect(first.frames.some((f) => f.includes("sessionResumptionUpdate"))).toBe(true));
    const sealed = JSON.parse(first.frames.find((f) => f.includes("sessionResumptionUpdate"))!).sessionResumptionUpdate.newHandle as string;
    const stub = env.EPHEMERAL_TOKENS.get(env.EPHEMERAL_TOKENS.idFromName(await sha256Hex(t.name)));
    await vi.waitFor(async () => expect(await stub.read(Date.now())).toMatchObject({ ok: true, record: { resumable: true } }));
    return { path, sealed, up, first, stub };
  }

  it("a uses: 1 token: five parallel resumptions open exactly one session; the others close 4409 with no upstream socket", async () => {
    const { path, sealed, up, first } = await handleOf(1);
    first.ws.close(1000);
    await rowOf(first.requestId);
    const five = await Promise.all(Array.from({ length: 5 }, () => attempt(path, withResumption(sealed))));
    const outcomes = five.map((a) => a.outcome).sort();
    expect(outcomes).toEqual([
      ...Array(4).fill("4409 ABORTED: ephemeral token already has 1 live session, its most (uses: 1); resume once one has closed"),
      "open",
    ]);
    // The first session's socket and the one resumed: none for the refused four.
    expect(up.sockets).toHaveLength(2);
    for (const a of five.filter((x) => x.outcome !== "open")) {
      expect(await rowOf(a.requestId)).toMatchObject({ status: 409, closed_by: "gateway", close_code: 4409 });
    }
    // Its slot is given back when it closes: the conversation resumes again, one session at a time.
    const open = five.find((a) => a.outcome === "open")!;
    open.ws.close(1000);
    await rowOf(open.requestId);
    const again = await attempt(path, withResumption(sealed));
    expect(again.outcome).toBe("open");
    expect(up.sockets).toHaveLength(3);
    again.ws.close(1000);
  });

  it("hostile: resuming while the token's session is still open is refused (4409) before any upstream socket", async () => {
    const { path, sealed, up, first } = await handleOf(1);
    const five = await Promise.all(Array.from({ length: 5 }, () => attempt(path, withResumption(sealed))));
    expect(five.map((a) => a.outcome.slice(0, 4))).toEqual(Array(5).fill("4409"));
    expect(up.sockets).toHaveLength(1);
    // A new session is refused as used up, as before.
    expect((await attempt(path, SETUP)).outcome).toMatch(/^4401 |^http 401$/);
    first.ws.close(1000);
  });

  it("a uses: 3 token holds at most three live sessions, new and resumed together", async () => {
    const { path, sealed, up, first } = await handleOf(3);
    // With the first session still open, two more fit, whichever kind.
    const four = await Promise.all([attempt(path, SETUP), ...Array.from({ length: 3 }, () => attempt(path, withResumption(sealed)))]);
    expect(four.filter((a) => a.outcome === "open")).toHaveLength(2);
    expect(four.filter((a) => a.outcome !== "open").every((a) => a.outcome.startsWith("4409 "))).toBe(true);
    expect(up.sockets).toHaveLength(1 + 2);
    for (const a of [first, ...four.filter((x) => x.outcome === "open")]) {
      a.ws.close(1000);
      await rowOf(a.requestId);
    }
    // All closed: the uses left and resumptions share the three slots again.
    const six = await Promise.all([attempt(path, SETUP), attempt(path, SETUP), ...Array.from({ length: 4 }, () => attempt(path, withResumption(sealed)))]);
    expect(six.filter((a) => a.outcome === "open")).toHaveLength(3);
    expect(six.filter((a) => a.outcome !== "open").every((a) => /^440[19] /.test(a.outcome))).toBe(true);
    expect(up.sockets).toHaveLength(3 + 3);
    for (const a of six) if (a.outcome === "open") a.ws.close(1000);
  });

  it("a hold its session never gave back (the isolate died) lapses after TOKEN_HOLD_MS; an open session keeps its hold by renewing it", async () => {
    const clock = freezeClock();
    const { path, sealed, stub, first } = await handleOf(1);
    first.ws.close(1000);
    await rowOf(first.requestId);
    // A session that vanished without releasing.
    expect(await stub.open(clock.now, "lost-session", true)).toMatchObject({ ok: true });
    expect((await attempt(path, withResumption(sealed))).outcome.slice(0, 4)).toBe("4409");
    clock.advance(TOKEN_HOLD_MS);
    const resumed = await attempt(path, withResumption(sealed));
    expect(resumed.outcome).toBe("open");
    // Open for twice a hold's life, renewing as it goes: no one else gets its slot.
    for (let i = 0; i < 6; i++) {
      clock.advance(TOKEN_HOLD_MS / 4);
      await new Promise((r) => setTimeout(r, 1_100));
    }
    expect((await attempt(path, withResumption(sealed))).outcome.slice(0, 4)).toBe("4409");
    resumed.ws.close(1000);
  }, 30_000);
});

describe("sessions", () => {
  it("LIVE_MAX_SESSION_SECONDS (default 900) ends a session once the clock passes it (4408)", async () => {
    const clock = freezeClock();
    const { key } = await createKey();
    upstreamSocket();
    const s = await session(LIVE, { "x-goog-api-key": key });
    clock.advance(899_000);
    s.ws.send(JSON.stringify({ clientContent: { turnComplete: true } }));
    clock.advance(1_000);
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4408, "DEADLINE_EXCEEDED: session reached LIVE_MAX_SESSION_SECONDS (900 s)"]);
    expect(await rowOf(s.requestId)).toMatchObject({ status: 408, closed_by: "gateway", close_code: 4408 });
  });

  it("a session whose key's team is deleted under it ends within a lease's life (4403), and its row says why", async () => {
    const clock = freezeClock();
    const team = await createTeam();
    const { key } = await createKey({ team_id: team.id });
    upstreamSocket();
    const s = await session(LIVE, { "x-goog-api-key": key });
    // What a key created into the team while it was being deleted is left with (the admin API refuses to delete a
    // team that still has keys): the team's Governor, deleted, grants nothing more.
    expect((await env.GOVERNOR.get(env.GOVERNOR.idFromName(`team:${team.id}`)).deleteTeam()).ok).toBe(true);
    clock.advance(LEASE_MS);
    const closed = await s.closed;
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/^PERMISSION_DENIED: the key's team "team_\w+" was deleted/);
    expect(await rowOf(s.requestId)).toMatchObject({ status: 403, closed_by: "gateway", close_code: 4403 });
  });

  it("a resumed session goes upstream under the pool credential that issued its handle", async () => {
    resetCredentialHealth();
    const { key } = await createKey();
    const keys = { GEM_A: "AIza-live-pool-aaaaaaaa", GEM_B: "AIza-live-pool-bbbbbbbb" };
    const vars = { ...keys, PROVIDER_KEYS: JSON.stringify({ gemini: [{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }] }) };
    const { calls } = upstreamSocket();
    const withResumption = (handle?: string) =>
      JSON.stringify({ setup: { model: "models/gemini-2.0-flash-live-001", sessionResumption: handle ? { handle } : {} } });
    const first = await session(LIVE, { "x-goog-api-key": key }, { setup: withResumption(), env: vars });
    await vi.waitFor(() => expect(first.frames.some((f) => f.includes("sessionResumptionUpdate"))).toBe(true));
    const sealed = JSON.parse(first.frames.find((f) => f.includes("sessionResumptionUpdate"))!).sessionResumptionUpdate.newHandle as string;
    const issuedBy = calls[0]!.headers.get("x-goog-api-key");
    const label = issuedBy === keys.GEM_A ? "a" : "b";
    expect(sealed.split(".")[2]).toBe(btoa(label).replace(/=+$/, ""));
    first.ws.close(1000);
    // Whichever credential a fresh session would draw, each resumption goes to the one that issued the handle.
    for (const draw of [0.01, 0.99, 0.4, 0.6]) {
      vi.spyOn(Math, "random").mockReturnValue(draw);
      const again = await session(LIVE, { "x-goog-api-key": key }, { setup: withResumption(sealed), env: vars });
      again.ws.close(1000);
    }
    expect(calls.slice(1).map((c) => c.headers.get("x-goog-api-key"))).toEqual(Array(4).fill(issuedBy));
  });

  it("an upstream that refuses the upgrade: 4502, the provider key redacted, the attempt in the row", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => new Response(JSON.stringify({ error: { message: "API key test-gemini-key not valid" } }), { status: 400 }));
    const res = await connect(LIVE, { "x-goog-api-key": key });
    const ws = res.webSocket!;
    const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
    ws.accept();
    ws.send(SETUP);
    const c = await closed;
    expect(c.code).toBe(4502);
    expect(c.reason).toContain("gemini refused the Live session: HTTP 400");
    expect(c.reason).not.toContain("test-gemini-key");
    // The provider key went in a header, the caller's nowhere.
    expect(calls[0]!.url).toBe("https://gemini.upstream.test/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent");
    expect(calls[0]!.headers.get("x-goog-api-key")).toBe("test-gemini-key");
    const row = await rowOf(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ status: 502, outcome: "error", closed_by: "gateway", close_code: 4502, provider: null });
    expect(JSON.parse(row.attempts_json as string)).toEqual([expect.objectContaining({ status: 400, reason: "upstream 400" })]);
    expect(row.error).not.toContain("test-gemini-key");
  });

  it("a refused upgrade cools a pool credential by the attempt loop's rule: the request's 403 never, a 429 for its model only, an invalid key for all", async () => {
    resetCredentialHealth();
    const { key } = await createKey();
    const keys = { GEM_A: "AIza-live-cool-aaaaaaaa", GEM_B: "AIza-live-cool-bbbbbbbb" };
    const vars = { ...keys, PROVIDER_KEYS: JSON.stringify({ gemini: [{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }] }) };
    vi.spyOn(Math, "random").mockReturnValue(0); // a fresh session draws `a`
    const a = { label: "a", secrets: [], material: undefined, weight: 1 };
    const health = new CredentialPool("gemini", [a]);
    const MODEL = "gemini-2.0-flash-live-001";
    let answer: () => Response = () => new Response(null);
    mockUpstream(() => answer());
    const refusedWith = async (res: () => Response) => {
      answer = res;
      const r = await worker.fetch(new Request(`${BASE}${LIVE}`, { headers: { upgrade: "websocket", "x-goog-api-key": key } }), { ...env, ...vars } as never, createExecutionContext());
      const ws = r.webSocket!;
      const closed = new Promise<CloseEvent>((done) => ws.addEventListener("close", done));
      ws.accept();
      ws.send(SETUP);
      expect((await closed).code).toBe(4502);
    };
    await refusedWith(() => Response.json({ error: { code: 403, message: "You do not have permission to access tuned model x.", status: "PERMISSION_DENIED" } }, { status: 403 }));
    expect(health.coolingUntil(a, MODEL)).toBe(0);
    await refusedWith(() => Response.json({ error: { code: 429, message: "Resource has been exhausted (e.g. check quota).", status: "RESOURCE_EXHAUSTED" } }, { status: 429 }));
    expect(health.coolingUntil(a, MODEL)).toBeGreaterThan(0);
    expect(health.coolingUntil(a, "gemini-2.5-flash")).toBe(0);
    resetCredentialHealth();
    await refusedWith(() => Response.json({ error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }] } }, { status: 400 }));
    expect(health.coolingUntil(a, "gemini-2.5-flash")).toBeGreaterThan(0);
  });

  it("an upstream that cannot be reached: 4502", async () => {
    const { key } = await createKey();
    vi.spyOn(globalThis, "fetch").mockRejectedValue(new TypeError("connect ECONNREFUSED"));
    const res = await connect(LIVE, { "x-goog-api-key": key });
    const ws = res.webSocket!;
    const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
    ws.accept();
    ws.send(SETUP);
    expect((await closed).code).toBe(4502);
    expect(await rowOf(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 502, closed_by: "gateway" });
  });

  it("frames sent before setupComplete wait for the upstream, in order; too many are refused (4413)", async () => {
    const { key } = await createKey();
    const { received } = upstreamSocket();
    const res = await connect(LIVE, { "x-goog-api-key": key });
    const ws = res.webSocket!;
    ws.accept();
    ws.send(SETUP);
    for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ realtimeInput: { text: `early ${i}` } }));
    await vi.waitFor(() => expect(received[0]).toHaveLength(4));
    expect(JSON.parse(received[0]![0]!).setup.model).toBe("models/gemini-2.0-flash-live-001");
    expect(received[0]!.slice(1).map((f) => JSON.parse(f).realtimeInput.text)).toEqual(["early 0", "early 1", "early 2"]);
    ws.close(1000);

    // Before the upstream answers, a flood is cut off rather than held.
    vi.restoreAllMocks();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
      await held;
      return new Response("late", { status: 503 });
    });
    const flood = await connect(LIVE, { "x-goog-api-key": key });
    const fw = flood.webSocket!;
    const closed = new Promise<CloseEvent>((r) => fw.addEventListener("close", r));
    fw.accept();
    fw.send(SETUP);
    for (let i = 0; i < 300; i++) fw.send("{}");
    expect((await closed).code).toBe(4413);
    release();
    expect(await rowOf(flood.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 413, closed_by: "gateway" });
  });
});

describe("files and caches a session names", () => {
  // Another key's file (and cache), and this key's own: a Live session may use only its key's, as a REST call.
  const uri = (id: string) => `https://generativelanguage.googleapis.com/v1beta/files/${id}`;
  const turn = (fileData: Record<string, unknown>) =>
    JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text: "look" }, { fileData: { mimeType: "text/plain", ...fileData } }] }], turnComplete: true } });
  const withSystemFile = (fileUri: string) =>
    JSON.stringify({ setup: { model: "models/gemini-2.0-flash-live-001", systemInstruction: { parts: [{ fileData: { fileUri, mimeType: "text/plain" } }] } } });
  async function keys() {
    const mine = await createKey({ name: "live-owner" });
    const other = await createKey({ name: "live-other" });
    const suffix = mine.id.slice(-8);
    const files = { mine: `lmine${suffix}`, theirs: `ltheirs${suffix}` };
    await ownResource(mine.id, "file", `files/${files.mine}`);
    await ownResource(other.id, "file", `files/${files.theirs}`);
    await ownResource(other.id, "cachedContent", `cachedContents/${files.theirs}`);
    return { key: mine.key, files };
  }
  /** Opens a session and sends `frames` after setupComplete; the session's close, and what the upstream got. */
  async function relay(key: string, frames: (string | ArrayBuffer)[], opts: { setup?: string; env?: Record<string, unknown> } = {}) {
    const up = upstreamSocket();
    const s = await session(LIVE, { "x-goog-api-key": key }, opts);
    for (const f of frames) s.ws.send(f);
    return { ...s, ...up };
  }

  it("a later frame naming another key's file or cache ends the session (4404) before it, or any frame after it, goes upstream", async () => {
    const { key, files } = await keys();
    const hostile = [
      turn({ fileUri: uri(files.theirs) }),
      turn({ file_uri: uri(files.theirs) }),
      // An escaped field name reads as fileUri once parsed, as the upstream would parse it.
      turn({ fileUri: uri(files.theirs) }).replace('"fileUri"', '"file\\u0055ri"'),
      JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text: "x" }] }] }, cachedContent: `cachedContents/${files.theirs}` }),
      JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text: "x" }] }] }, cached_content: files.theirs }),
    ];
    for (const frame of hostile) {
      const s = await relay(key, [frame, JSON.stringify({ realtimeInput: { text: "after" } })]);
      const closed = await s.closed;
      expect([closed.code, closed.reason], frame).toEqual([4404, expect.stringMatching(/^NOT_FOUND: (file|cached content) ".*" not found$/)]);
      // The upstream got the setup and nothing else.
      expect(s.received[0]!.map((f) => Object.keys(JSON.parse(f))[0])).toEqual(["setup"]);
      expect(await rowOf(s.requestId)).toMatchObject({ status: 404, closed_by: "gateway", close_code: 4404 });
    }
  });

  it("a frame naming the key's own file goes upstream in its place: frames after it wait for the check, then follow in order", async () => {
    const { key, files } = await keys();
    const frames = [
      JSON.stringify({ realtimeInput: { text: "before" } }),
      turn({ fileUri: uri(files.mine) }),
      JSON.stringify({ realtimeInput: { text: "after 1" } }),
      JSON.stringify({ realtimeInput: { text: "after 2" } }),
    ];
    const s = await relay(key, frames);
    await vi.waitFor(() => expect(s.received[0]).toHaveLength(5));
    expect(s.received[0]!.slice(1)).toEqual(frames);
    s.ws.close(1000);
    expect(await rowOf(s.requestId)).toMatchObject({ status: 200, outcome: "ok" });
  });

  it("a frame that is not JSON goes upstream untouched, unless a lenient parser could read a setup, file or cache from it (4400)", async () => {
    const { key, files } = await keys();
    // Raw bytes, with a non-ASCII escape's bytes in them too (only an escape of an ASCII character can hide a name).
    const plain = new Uint8Array([0xff, 0x00, 0x80, 0x22, 0x7b, 0x3a, 0x5c, 0x75, 0x30, 0x30, 0x65, 0x39]);
    const prose = JSON.stringify({ realtimeInput: { text: "my setup has a fileUri" } });
    const nonAscii = '{"realtimeInput":{"text":"caf\\u00e9 \\u3042"}}';
    // Go escapes < > & in strings as \u003c \u003e \u0026: parsed, checked, and sent as parsed.
    const htmlSafe = '{"realtimeInput":{"text":"a \\u003c b"}}';
    const s = await relay(key, [plain.buffer as ArrayBuffer, prose, nonAscii, htmlSafe]);
    await vi.waitFor(() => expect(s.received[0]).toHaveLength(5));
    expect([...new Uint8Array(await new Response(s.received[0]![1] as unknown as BodyInit).arrayBuffer())]).toEqual([...plain]);
    expect(s.received[0]!.slice(2)).toEqual([prose, nonAscii, '{"realtimeInput":{"text":"a < b"}}']);
    s.ws.close(1000);

    for (const frame of [
      new Uint8Array([0xff, 0x5c, 0x75, 0x30, 0x30, 0x34, 0x31]).buffer as ArrayBuffer,
      `{clientContent: {turns: [{parts: [{fileData: {fileUri: '${uri(files.theirs)}'}}]}]}}`,
      "{setup: {model: 'models/gemini-2.5-pro'}}",
    ]) {
      const r = await relay(key, [frame]);
      expect((await r.closed).code).toBe(4400);
      expect(r.received[0]!).toHaveLength(1);
    }
    // A byte-order mark does not hide a frame from the check.
    const bom = await relay(key, ["\ufeff" + turn({ fileUri: uri(files.theirs) }).replace('"fileUri"', '"file\\u0055ri"')]);
    expect((await bom.closed).code).toBe(4404);
    expect(bom.received[0]!).toHaveLength(1);
  });

  it("a flood sent while a frame's files are looked up is cut off (4413) rather than held, and nothing of it goes upstream", async () => {
    const { key, files } = await keys();
    // D1 answers the ownership look-up only when the test lets it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const DB = new Proxy(env.DB, {
      get: (db, prop) => (prop === "batch" ? async (s: D1PreparedStatement[]) => (await held, db.batch(s)) : Reflect.get(db, prop, db).bind(db)),
    });
    const s = await relay(key, [turn({ fileUri: uri(files.mine) }), ...Array<string>(300).fill("{}")], { env: { DB } });
    const c = await s.closed;
    expect([c.code, c.reason]).toEqual([4413, "INVALID_ARGUMENT: too much sent while the files of an earlier message were checked"]);
    release();
    expect(s.received[0]!.map((f) => Object.keys(JSON.parse(f))[0])).toEqual(["setup"]);
  });

  it("what goes upstream is what was checked: a duplicate field is sent as the one the check read, never the other", async () => {
    const { key, files } = await keys();
    // JSON.parse keeps the last of two same-named fields; a parser keeping the first would read the other key's file.
    const twice = turn({ fileUri: uri(files.theirs) }).replace(`"fileUri":"${uri(files.theirs)}"`, `"fileUri":"${uri(files.theirs)}","fileUri":"${uri(files.mine)}"`);
    expect(twice.match(/"fileUri"/g)).toHaveLength(2);
    const s = await relay(key, [twice]);
    await vi.waitFor(() => expect(s.received[0]).toHaveLength(2));
    expect(s.received[0]![1]).not.toContain(files.theirs);
    expect(JSON.parse(s.received[0]![1]!).clientContent.turns[0].parts[1].fileData.fileUri).toBe(uri(files.mine));
    s.ws.close(1000);
  });

  it("a setup naming another key's file is refused before the upstream is opened; a bad URI or a second setup, however spelled, is a 4400", async () => {
    const { key, files } = await keys();
    const up = upstreamSocket();
    const res = await connect(LIVE, { "x-goog-api-key": key });
    const ws = res.webSocket!;
    const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
    ws.accept();
    ws.send(withSystemFile(uri(files.theirs)));
    expect((await closed).code).toBe(4404);
    expect(up.calls).toHaveLength(0);
    expect(await rowOf(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 404, closed_by: "gateway" });

    for (const frame of [
      turn({ fileUri: "http://169.254.169.254/latest/meta-data" }),
      JSON.stringify({ s: 1 }).replace('"s"', '"s\\u0065tup"').replace("1", JSON.stringify({ model: "models/gemini-2.5-pro" })),
      '{"clientContent": {"turns": [{"parts": [{"fileData": {"fileUri": ',
    ]) {
      const s = await relay(key, [frame]);
      const c = await s.closed;
      expect(c.code, frame).toBe(4400);
      expect(s.received[0]!).toHaveLength(1);
    }
  });

  it("under a key pool, a setup naming a file opens under GEMINI_API_KEY's credential; a file first named later, under another, is a clear 4400", async () => {
    resetCredentialHealth();
    const { key, files } = await keys();
    const K = { GEM_A: "AIza-live-res-aaaaaaaa", GEM_B: "AIza-live-res-bbbbbbbb" };
    const vars = {
      ...K, GEMINI_API_KEY: K.GEM_A,
      PROVIDER_KEYS: JSON.stringify({ gemini: [{ label: "a", secret: "GEM_A", weight: 1 }, { label: "b", secret: "GEM_B", weight: 1000 }] }),
    };
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const pinned = await relay(key, [turn({ fileUri: uri(files.mine) })], { env: vars, setup: withSystemFile(uri(files.mine)) });
    await vi.waitFor(() => expect(pinned.received[0]).toHaveLength(2));
    expect(pinned.calls[0]!.headers.get("x-goog-api-key")).toBe(K.GEM_A);
    pinned.ws.close(1000);

    const drawn = await relay(key, [turn({ fileUri: uri(files.mine) })], { env: vars });
    expect(drawn.calls[0]!.headers.get("x-goog-api-key")).toBe(K.GEM_B);
    const c = await drawn.closed;
    expect([c.code, c.reason]).toEqual([4400, expect.stringContaining('held by credential "a", not the session\'s ("b")')]);
    expect(drawn.received[0]!).toHaveLength(1);
  });
});
