/**
 * The Live API through the bundled gateway: the real @google/genai `ai.live.connect` (and raw `ws` clients where a
 * test needs frames the SDK does not send) against a loopback Gemini Live upstream (./live-upstream.ts). Every
 * test reads the session's usage row.
 */
import { GoogleGenAI, Modality, type LiveServerMessage, type Session } from "@google/genai";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { startGateway, type Gateway } from "./harness";
import { defaultUsage, liveUpstream, type LiveUpstreamMock, type UpstreamSession } from "./live-upstream";

const PROVIDER_KEY = "live-provider-key-0123456789";
const MODEL = "gemini-live-test";
/** Without audio prices: a session's slice ahead is then priced at $2 per 1M tokens. */
const PLAIN_MODEL = "gemini-live-plain";
const PRICES = {
  [`gemini/${MODEL}*`]: { input: 1, output: 2, input_audio: 3, output_audio: 12 },
  [`gemini/${PLAIN_MODEL}*`]: { input: 1, output: 2 },
};
const LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

let gw: Gateway;
let up: LiveUpstreamMock;

beforeAll(async () => {
  up = await liveUpstream();
  gw = await startGateway({ GEMINI_BASE_URL: up.url, GEMINI_API_KEY: PROVIDER_KEY, PRICES: JSON.stringify(PRICES) });
});
afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

// ---- helpers

const sdk = (apiKey: string, apiVersion?: string, g = gw) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl: `${g.url}/genai`, ...(apiVersion ? { apiVersion } : {}) } });

interface Opened {
  session: Session;
  messages: LiveServerMessage[];
  message(match: (m: LiveServerMessage) => unknown): Promise<LiveServerMessage>;
  closed: Promise<CloseEvent>;
}

/** `ai.live.connect`, or the close that refused it (the SDK itself waits for setupComplete forever). */
async function connect(ai: GoogleGenAI, model = MODEL, config: Record<string, unknown> = {}): Promise<Opened> {
  const messages: LiveServerMessage[] = [];
  let onClose!: (e: CloseEvent) => void;
  const closed = new Promise<CloseEvent>((r) => (onClose = r));
  const session = await Promise.race([
    ai.live.connect({
      model,
      config: { responseModalities: [Modality.TEXT], ...config },
      callbacks: { onmessage: (m) => messages.push(m), onclose: (e) => onClose(e), onerror: () => {} },
    }),
    closed.then((e) => Promise.reject(Object.assign(new Error(`closed ${e.code} ${e.reason}`), { close: e }))),
  ]);
  return {
    session,
    messages,
    closed,
    message: (match) => vi.waitFor(() => {
      const m = messages.find(match);
      if (!m) throw new Error("not yet");
      return m;
    }, { timeout: 10_000, interval: 10 }),
  };
}

/** The refusal of a connect that was closed at setup. */
async function refusedAtSetup(ai: GoogleGenAI, model = MODEL, config: Record<string, unknown> = {}): Promise<CloseEvent> {
  const err = await connect(ai, model, config).then(() => undefined, (e: { close?: CloseEvent }) => e);
  if (!err?.close) throw new Error(`expected a close, got ${String(err)}`);
  return err.close;
}

interface Raw {
  ws: WebSocket;
  frames: { data: Buffer; binary: boolean }[];
  frame(match: (f: { data: Buffer; binary: boolean; json?: any }) => boolean): Promise<{ data: Buffer; binary: boolean; json?: any }>;
  closed: Promise<{ code: number; reason: string }>;
}

/** A raw client socket: opens (resolves) or is refused before the upgrade (rejects with the HTTP status and body). */
function raw(path: string, headers: Record<string, string> = {}): Promise<Raw> {
  const ws = new WebSocket(`${gw.url.replace(/^http/, "ws")}/genai${path}`, { headers });
  const frames: Raw["frames"] = [];
  ws.on("message", (data, binary) => frames.push({ data: data as Buffer, binary }));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.on("open", () =>
      resolve({
        ws, frames, closed,
        frame: (match) => vi.waitFor(() => {
          const f = frames.map((x) => ({ ...x, json: tryJson(x.data) })).find(match);
          if (!f) throw new Error("not yet");
          return f;
        }, { timeout: 10_000, interval: 10 }),
      }),
    );
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body) })));
    });
    ws.on("error", (e) => reject(e));
  });
}

/** The HTTP refusal of a connect before the upgrade. */
const refusedBeforeUpgrade = (path: string, headers: Record<string, string> = {}) =>
  raw(path, headers).then(
    () => Promise.reject(new Error("expected a refusal before the upgrade")),
    (e: { status?: number; body?: any }) => {
      if (!e.status) throw e;
      return { status: e.status, body: e.body };
    },
  );

function tryJson(b: Buffer): any {
  try {
    return JSON.parse(b.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A raw client's session, set up: a new key (with `fields`), the client socket and the upstream session. */
async function rawSession(fields: Record<string, unknown> = {}, credentialIn: "query" | "header" = "query") {
  const { key, id } = await gw.createKey(fields);
  const next = up.next();
  const c = credentialIn === "query" ? await raw(`${LIVE_PATH}?key=${key}`) : await raw(LIVE_PATH, { "x-goog-api-key": key });
  c.ws.send(setupMessage());
  const s = await next;
  await c.frame((f) => f.json?.setupComplete);
  return { id, c, s };
}

const setupMessage = (model = MODEL, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ setup: { model: `models/${model}`, generationConfig: { responseModalities: ["TEXT"] }, ...extra } });

/** The key's Live session rows (waits for `n` of them: rows are written after the socket closes). */
async function sessionRows(keyId: string, n = 1): Promise<Record<string, any>[]> {
  const db = await gw.mf.getD1Database("DB");
  return vi.waitFor(async () => {
    await gw.flushUsage();
    const { results } = await db.prepare("SELECT * FROM usage WHERE key_id = ? AND action = 'bidiGenerateContent' ORDER BY ts").bind(keyId).all();
    if (results.length < n) throw new Error(`${results.length} of ${n} rows`);
    return results.map((r) => ({ ...r, attempts_json: JSON.parse(r.attempts_json as string), modality_tokens: JSON.parse((r.modality_tokens as string) ?? "null") }));
  }, { timeout: 10_000, interval: 20 });
}
const sessionRow = async (keyId: string) => (await sessionRows(keyId))[0]!;

/** A key's refusals (counted, not logged: 401/402/403/429 before any upstream socket), by status and reason. */
async function refusals(keyId: string, g = gw): Promise<{ status: number; reason: string; refused: number }[]> {
  await g.flushUsage();
  const r = await g.admin(`/usage?key_id=${keyId}`);
  return ((await r.json()) as { refusals: { status: number; reason: string; refused: number }[] }).refusals;
}

const cost = (usd: number) => Math.round(usd * 1e10) / 1e10;

// ---- the session

it("a text session: turns relayed both ways, the provider key upstream (never the caller's), one row summing the turns", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key));
  const s = await next;
  // The upstream was opened at Gemini's own path with the provider key in a header; nothing of the caller's went up.
  expect(s.url).toBe(LIVE_PATH);
  expect(s.headers["x-goog-api-key"]).toBe(PROVIDER_KEY);
  expect(JSON.stringify(s.headers)).not.toContain("sk-bf-");
  expect(await s.setup).toEqual({ model: `models/${MODEL}`, generationConfig: { responseModalities: ["TEXT"] } });

  live.session.sendClientContent({ turns: "hello" });
  expect((await live.message((m) => m.serverContent?.modelTurn)).serverContent!.modelTurn!.parts![0]!.text).toBe("echo: hello");
  await live.message((m) => m.usageMetadata);
  live.session.sendClientContent({ turns: "again" });
  await live.message((m) => m.serverContent?.modelTurn?.parts?.[0]?.text === "echo: again");
  await vi.waitFor(() => expect(live.messages.filter((m) => m.usageMetadata)).toHaveLength(2));
  live.session.close();
  // The client closed without a code: the upstream is closed normally.
  expect(await s.closed).toEqual({ code: 1000, reason: "" });

  const row = await sessionRow(id);
  // Per turn, as Gemini reports: 100 then 200 prompt tokens (the conversation re-read), 20 response tokens each.
  expect(row).toMatchObject({
    requested_model: `gemini/${MODEL}`, provider: "gemini", model: MODEL, action: "bidiGenerateContent", stream: 1,
    status: 200, outcome: "ok", error: null, input_tokens: 300, output_tokens: 40, close_code: 1005, closed_by: "client",
    modality_tokens: { input: { TEXT: 300 }, output: { TEXT: 40 } },
    cost_usd: cost((300 * 1 + 40 * 2) / 1e6),
  });
  expect(row.attempts_json).toEqual([expect.objectContaining({ target: `gemini/${MODEL}`, status: 101, reason: "ok" })]);
  expect(row.ttfb_ms).toBeGreaterThanOrEqual(0);
  expect(row.latency_ms).toBeGreaterThanOrEqual(row.ttfb_ms);
});

it("a base URL with a trailing slash works too (the SDK then opens /genai//ws/...)", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai/` } });
  const live = await connect(ai);
  expect((await next).url).toBe(LIVE_PATH);
  live.session.close();
  expect(await sessionRow(id)).toMatchObject({ outcome: "ok", closed_by: "client" });
});

it("an audio chunk makes the round trip byte-exact, and its tokens are priced as audio", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key), MODEL, { responseModalities: [Modality.AUDIO] });
  const s = await next;
  const pcm = randomBytes(3200).toString("base64");
  live.session.sendRealtimeInput({ audio: { data: pcm, mimeType: "audio/pcm;rate=16000" } });
  const sent = await s.frame((f) => f.json?.realtimeInput);
  expect(sent.json.realtimeInput.audio).toEqual({ data: pcm, mimeType: "audio/pcm;rate=16000" });
  const answer = await live.message((m) => m.serverContent?.modelTurn);
  expect(answer.serverContent!.modelTurn!.parts![0]!.inlineData!.data).toBe(pcm);
  await live.message((m) => m.usageMetadata);
  live.session.close();
  const row = await sessionRow(id);
  expect(row).toMatchObject({
    input_tokens: 32, output_tokens: 25, modality_tokens: { input: { AUDIO: 32 }, output: { AUDIO: 25 } },
    cost_usd: cost((32 * 3 + 25 * 12) / 1e6),
  });
});

it("binary frames are relayed byte for byte in both directions", async () => {
  const { id, c, s } = await rawSession();
  // Not UTF-8, not JSON: the gateway passes it on untouched. (Without a backslash: bytes reading "\u0041" could
  // spell a field name the gateway's check cannot see, so such a frame, not being JSON, would be refused.)
  const toUpstream = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80]), randomBytes(70_000).map((b) => (b === 0x5c ? 0x5d : b))]);
  c.ws.send(toUpstream, { binary: true });
  const got = await s.frame((f) => f.binary && f.data.length === toUpstream.length);
  expect(got.data.equals(toUpstream)).toBe(true);
  const toClient = Buffer.concat([Buffer.from([0xc3, 0x28]), randomBytes(50_000)]);
  s.ws.send(toClient, { binary: true });
  const back = await c.frame((f) => f.binary && f.data.length === toClient.length);
  expect(back.data.equals(toClient)).toBe(true);
  // A text frame stays a text frame.
  s.send({ serverContent: { modelTurn: { parts: [{ text: "as text" }] } } }, { text: true });
  expect((await c.frame((f) => f.json?.serverContent?.modelTurn)).binary).toBe(false);
  c.ws.close(1000);
  expect((await sessionRow(id)).outcome).toBe("ok");
});

it("a tool call round trip: the call reaches the client, its response reaches the model", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key), MODEL, {
    tools: [{ functionDeclarations: [{ name: "get_weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } } } }] }],
  });
  const s = await next;
  expect((await s.setup).tools[0].functionDeclarations[0].name).toBe("get_weather");
  live.session.sendClientContent({ turns: "call a tool" });
  const call = await live.message((m) => m.toolCall);
  expect(call.toolCall!.functionCalls).toEqual([{ id: "call-1", name: "get_weather", args: { city: "Paris" } }]);
  live.session.sendToolResponse({ functionResponses: [{ id: "call-1", name: "get_weather", response: { temp: 21 } }] });
  expect((await s.frame((f) => f.json?.toolResponse)).json.toolResponse.functionResponses[0]).toMatchObject({ id: "call-1", response: { temp: 21 } });
  await live.message((m) => m.serverContent?.modelTurn?.parts?.[0]?.text === 'tool said: {"temp":21}');
  live.session.close();
  expect(await sessionRow(id)).toMatchObject({ outcome: "ok", input_tokens: 100, output_tokens: 20 });
});

// ---- closes

it("the client's close, with its code and reason, closes the upstream", async () => {
  const { id, c, s } = await rawSession({}, "header");
  c.ws.close(4100, "user hung up");
  expect(await s.closed).toEqual({ code: 4100, reason: "user hung up" });
  expect(await c.closed).toMatchObject({ code: 4100 });
  expect(await sessionRow(id)).toMatchObject({ status: 200, outcome: "ok", close_code: 4100, closed_by: "client" });
});

it("a client that vanishes: the upstream is closed and the row still written, as aborted", async () => {
  const { id, c, s } = await rawSession();
  c.ws.send(JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text: "hi" }] }], turnComplete: true } }));
  await c.frame((f) => f.json?.usageMetadata);
  c.ws.terminate();
  expect((await s.closed).code).toBe(1011);
  expect(await sessionRow(id)).toMatchObject({
    status: 499, outcome: "aborted", close_code: 1006, closed_by: "client", error: "client connection lost", input_tokens: 100,
  });
});

it("the upstream's goAway and then its close reach the client, code and reason intact; the row blames the upstream", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key));
  const s = await next;
  s.send({ goAway: { timeLeft: "5s" } });
  expect((await live.message((m) => m.goAway)).goAway).toEqual({ timeLeft: "5s" });
  s.ws.close(1011, `internal failure, key ${PROVIDER_KEY}`);
  const closed = await live.closed;
  expect(closed.code).toBe(1011);
  // The provider key an upstream might echo never reaches the client.
  expect(closed.reason).toBe("internal failure, key [redacted]");
  expect(await sessionRow(id)).toMatchObject({
    status: 502, outcome: "error", close_code: 1011, closed_by: "upstream",
    error: "upstream closed the session: 1011 internal failure, key [redacted]",
  });
});

it("the upstream's normal close ends the session as ok", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key));
  (await next).ws.close(1000, "done");
  expect(await live.closed).toMatchObject({ code: 1000, reason: "done" });
  expect(await sessionRow(id)).toMatchObject({ status: 200, outcome: "ok", close_code: 1000, closed_by: "upstream" });
});

// ---- governance

it("a key revoked mid-session: the session is closed (4403) within the check interval, and the row says why", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key));
  const s = await next;
  expect((await gw.admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(200);
  const closed = await live.closed;
  expect(closed.code).toBe(4403);
  expect(closed.reason).toBe("PERMISSION_DENIED: API key has been revoked");
  expect((await s.closed).code).toBe(1000);
  expect(await sessionRow(id)).toMatchObject({
    status: 403, outcome: "error", error: "API key has been revoked", close_code: 4403, closed_by: "gateway",
  });
});

it("a budget spent mid-session: the session is closed (4402) when the next slice does not fit; what was used is charged", async () => {
  const { key, id } = await gw.createKey({ budget: { max_usd: 0.05 } });
  up.usage = () => ({ promptTokenCount: 20_000, responseTokenCount: 0 });
  try {
    const next = up.next();
    const live = await connect(sdk(key), PLAIN_MODEL);
    const s = await next;
    // Each turn costs $0.02; the session holds a slice of 8192 tokens ($0.016) ahead. After the second turn the next slice would pass $0.05.
    for (let turn = 1; turn <= 5; turn++) {
      const closedYet = await Promise.race([live.closed.then(() => true), Promise.resolve(false)]);
      if (closedYet) break;
      live.session.sendClientContent({ turns: `turn ${turn}` });
      await Promise.race([live.closed, live.message((m) => m.serverContent?.modelTurn?.parts?.[0]?.text === `echo: turn ${turn}`)]);
      await Promise.race([live.closed, vi.waitFor(() => expect(live.messages.filter((m) => m.usageMetadata).length).toBe(turn))]);
    }
    const closed = await live.closed;
    expect(closed.code).toBe(4402);
    expect(closed.reason).toMatch(/^RESOURCE_EXHAUSTED: budget/);
    expect((await s.closed).code).toBe(1000);
    const row = await sessionRow(id);
    expect(row).toMatchObject({ status: 402, outcome: "error", close_code: 4402, closed_by: "gateway", input_tokens: 40_000, cost_usd: 0.04 });
    expect(row.error).toMatch(/^budget: key "e2e" spent/);
  } finally {
    up.usage = defaultUsage;
  }
});

it("a key at its request rate is refused before the upgrade (a session is one request)", async () => {
  const { key, id } = await gw.createKey({ rate_limit: { rpm: 1 } });
  const live = await connect(sdk(key));
  live.session.close();
  const r = await refusedBeforeUpgrade(`${LIVE_PATH}?key=${key}`);
  expect(r.status).toBe(429);
  expect(r.body.error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED" });
  expect((await sessionRows(id)).map((x) => x.status)).toEqual([200]);
  expect(await refusals(id)).toEqual([{ status: 429, reason: "requests/min", refused: 1 }]);
});

it("a model outside the key's allow-list is refused at setup (4403), before any upstream socket: a refusal, counted", async () => {
  const { key, id } = await gw.createKey({ models: ["gemini/gemini-live-allowed*"] });
  const before = up.sessions.length;
  const closed = await refusedAtSetup(sdk(key));
  expect(closed.code).toBe(4403);
  expect(closed.reason).toBe(`PERMISSION_DENIED: model "gemini/${MODEL}" is not allowed for key "e2e"`);
  expect(up.sessions.length).toBe(before);
  // Like every refusal of the REST routes: counted, not logged.
  await vi.waitFor(async () => expect(await refusals(id)).toEqual([{ status: 403, reason: "model not allowed", refused: 1 }]));
  const db = await gw.mf.getD1Database("DB");
  expect(await db.prepare("SELECT count(*) AS n FROM usage WHERE key_id = ?").bind(id).first("n")).toBe(0);
});

it("another provider's model is refused: Live is Gemini's only", async () => {
  const { key, id } = await gw.createKey();
  const before = up.sessions.length;
  const closed = await refusedAtSetup(sdk(key), "openai/gpt-4o-realtime-preview");
  expect(closed.code).toBe(4400);
  expect(closed.reason).toMatch(/^INVALID_ARGUMENT: model "openai\/gpt-4o-realtime-preview": the Live API is served by Gemini only/);
  expect(up.sessions.length).toBe(before);
  expect(await sessionRow(id)).toMatchObject({ status: 400, requested_model: "openai/gpt-4o-realtime-preview", closed_by: "gateway" });
});

it("a second setup mid-session is refused (it would change the model past every check)", async () => {
  const { id, c, s } = await rawSession({ models: [`gemini/${MODEL}`] });
  c.ws.send(setupMessage("gemini-2.5-pro"));
  expect(await c.closed).toEqual({ code: 4400, reason: "INVALID_ARGUMENT: a Live session takes one setup message, as its first" });
  await s.closed;
  expect(s.frames.filter((f) => f.json?.setup)).toHaveLength(1);
  expect(await sessionRow(id)).toMatchObject({ status: 400, closed_by: "gateway", close_code: 4400 });
});

it("refused before the upgrade: no key, an unknown key, not a WebSocket, an unknown Live path", async () => {
  expect(await refusedBeforeUpgrade(LIVE_PATH)).toMatchObject({ status: 401, body: { error: { code: 401, status: "UNAUTHENTICATED" } } });
  expect((await refusedBeforeUpgrade(`${LIVE_PATH}?key=sk-bf-${"x".repeat(40)}`)).status).toBe(401);
  const { key } = await gw.createKey();
  const plain = await fetch(`${gw.url}/genai${LIVE_PATH}?key=${key}`);
  expect(plain.status).toBe(426);
  expect(((await plain.json()) as { error: { message: string } }).error.message).toMatch(/WebSocket/);
  expect((await refusedBeforeUpgrade(`/ws/google.ai.generativelanguage.v1beta.GenerativeService.Other?key=${key}`)).status).toBe(404);
});

// ---- session resumption

it("resumption handles are sealed to the key: the same key resumes (the upstream gets the raw handle), another key cannot", async () => {
  const { key, id } = await gw.createKey();
  const next = up.next();
  const live = await connect(sdk(key), MODEL, { sessionResumption: {} });
  const s = await next;
  const update = await live.message((m) => m.sessionResumptionUpdate);
  const sealed = update.sessionResumptionUpdate!.newHandle!;
  const rawHandle = `handle-${up.sessions.indexOf(s) + 1}-0`;
  expect(sealed).toMatch(/^edgeway1\.[A-Za-z0-9_-]{22}\./);
  expect(sealed.endsWith(`.${rawHandle}`)).toBe(true);
  live.session.close();

  const again = up.next();
  const resumed = await connect(sdk(key), MODEL, { sessionResumption: { handle: sealed } });
  expect((await (await again).setup).sessionResumption).toEqual({ handle: rawHandle });
  resumed.session.close();

  const other = await gw.createKey();
  const before = up.sessions.length;
  const closed = await refusedAtSetup(sdk(other.key), MODEL, { sessionResumption: { handle: sealed } });
  expect(closed).toMatchObject({ code: 4403, reason: "PERMISSION_DENIED: session resumption handle was not issued to this key" });
  // A raw upstream handle, unsealed, is refused the same way.
  expect((await refusedAtSetup(sdk(key), MODEL, { sessionResumption: { handle: rawHandle } })).code).toBe(4403);
  expect(up.sessions.length).toBe(before);
  expect(await sessionRows(id, 2)).toHaveLength(2);
  expect(await refusals(id)).toEqual([{ status: 403, reason: "resumption handle", refused: 1 }]);
  expect(await refusals(other.id)).toEqual([{ status: 403, reason: "resumption handle", refused: 1 }]);
});

// ---- ephemeral tokens

describe("ephemeral tokens", () => {
  const createToken = (key: string, config: Record<string, unknown>) =>
    sdk(key, "v1alpha").authTokens.create({ config: { httpOptions: { apiVersion: "v1alpha" }, ...config } });

  it("a browser opens a session with a token (constrained endpoint, locked setup); the row is the issuing key's; one use", async () => {
    const { key, id } = await gw.createKey();
    const token = await createToken(key, {
      uses: 1,
      liveConnectConstraints: { model: MODEL, config: { systemInstruction: "Be brief.", responseModalities: [Modality.TEXT], temperature: 0.2 } },
      lockAdditionalFields: [],
    });
    expect(token.name).toMatch(/^auth_tokens\/[A-Za-z0-9]{40}$/);
    expect(token).toMatchObject({ uses: 1 });

    const next = up.next();
    // The browser holds only the token; it asks for another model and temperature, which the token locks.
    const live = await connect(sdk(token.name!, "v1alpha"), "gemini-2.5-pro", { temperature: 1.5, maxOutputTokens: 50 });
    const s = await next;
    expect(s.url).toBe("/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent");
    expect(JSON.stringify(s.headers)).not.toMatch(/auth_tokens|sk-bf-/);
    expect(await s.setup).toEqual({
      model: `models/${MODEL}`,
      systemInstruction: { parts: [{ text: "Be brief." }], role: "user" },
      generationConfig: { responseModalities: ["TEXT"], temperature: 0.2, maxOutputTokens: 50 },
    });
    live.session.sendClientContent({ turns: "hi" });
    await live.message((m) => m.usageMetadata);
    live.session.close();
    expect(await sessionRow(id)).toMatchObject({ key_id: id, requested_model: `gemini/${MODEL}`, outcome: "ok", input_tokens: 100 });

    // Used up: refused before the upgrade, as the Gemini error the SDK reports.
    const r = await refusedBeforeUpgrade(`/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained?access_token=${token.name}`);
    expect(r).toEqual({ status: 401, body: { error: { code: 401, message: "ephemeral token has been used up (uses: 1)", status: "UNAUTHENTICATED" } } });
  });

  it("concurrent sessions racing for a token's uses: exactly that many open", async () => {
    const { key } = await gw.createKey();
    const token = await createToken(key, { uses: 2 });
    const path = `/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained?access_token=${token.name}`;
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = await raw(path).catch((e: { status?: number }) => e);
        if (!("ws" in c)) return `http ${c.status}`;
        c.ws.send(setupMessage());
        const won = await Promise.race([c.frame((f) => f.json?.setupComplete).then(() => "open"), c.closed.then((x) => `closed ${x.code}`)]);
        c.ws.close();
        return won;
      }),
    );
    expect(outcomes.filter((o) => o === "open")).toHaveLength(2);
    expect(outcomes.filter((o) => o !== "open").every((o) => o === "closed 4401" || o === "http 401")).toBe(true);
  });

  it("a token ends its sessions at its expireTime (4401), then is refused before the upgrade", async () => {
    const { key, id } = await gw.createKey();
    const token = await createToken(key, { uses: 0, expireTime: new Date(Date.now() + 2500).toISOString() });
    const live = await connect(sdk(token.name!, "v1alpha"));
    const closed = await live.closed;
    expect(closed).toMatchObject({ code: 4401, reason: "UNAUTHENTICATED: ephemeral token has expired" });
    expect(await sessionRow(id)).toMatchObject({ status: 401, closed_by: "gateway", close_code: 4401, error: "ephemeral token has expired" });
    const r = await refusedBeforeUpgrade(`${LIVE_PATH}?access_token=${token.name}`);
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe("ephemeral token has expired");
  });

  it("a token of a revoked key is refused before the upgrade; a token is no virtual key elsewhere", async () => {
    const { key, id } = await gw.createKey();
    const token = await createToken(key, { uses: 5 });
    const rest = await fetch(`${gw.url}/genai/v1beta/models/${MODEL}:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": token.name! },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    });
    expect(rest.status).toBe(401);
    await gw.admin(`/keys/${id}`, { method: "DELETE" });
    const r = await refusedBeforeUpgrade(`${LIVE_PATH}?access_token=${token.name}`);
    expect(r).toMatchObject({ status: 403, body: { error: { message: "API key has been revoked" } } });
  });

  it("issuing is checked: another provider's model, a model the key may not use, times in the past", async () => {
    const { key } = await gw.createKey({ models: [`gemini/${MODEL}`] });
    await expect(createToken(key, { liveConnectConstraints: { model: "openai/gpt-4o" } })).rejects.toMatchObject({ status: 400 });
    await expect(createToken(key, { liveConnectConstraints: { model: "gemini-2.5-pro" } })).rejects.toMatchObject({ status: 403 });
    await expect(createToken(key, { expireTime: "2020-01-01T00:00:00Z" })).rejects.toMatchObject({ status: 400 });
    await expect(createToken(key, { uses: -1 })).rejects.toMatchObject({ status: 400 });
  });
});

describe("LIVE_MAX_SESSION_SECONDS", () => {
  let short: Gateway;
  beforeAll(async () => {
    short = await startGateway({ GEMINI_BASE_URL: up.url, GEMINI_API_KEY: PROVIDER_KEY, LIVE_MAX_SESSION_SECONDS: "0.8" });
  });
  afterAll(() => short?.stop());

  it("caps a session: closed with 4408 and the row says so", async () => {
    const { key, id } = await short.createKey();
    const before = up.sessions.length;
    // The cap counts from the upgrade: on a slow machine it may even come before setupComplete.
    const closed = await connect(sdk(key, undefined, short)).then((l) => l.closed, (e: { close?: CloseEvent }) => e.close!);
    expect(closed).toMatchObject({ code: 4408, reason: "DEADLINE_EXCEEDED: session reached LIVE_MAX_SESSION_SECONDS (0.8 s)" });
    for (const s of up.sessions.slice(before)) expect((await s.closed).code).toBe(1000);
    const db = await short.mf.getD1Database("DB");
    const row = await vi.waitFor(async () => {
      await short.flushUsage();
      const r = await db.prepare("SELECT * FROM usage WHERE key_id = ?").bind(id).first();
      if (!r) throw new Error("no row yet");
      return r;
    });
    expect(row).toMatchObject({ status: 408, outcome: "error", close_code: 4408, closed_by: "gateway" });
  });
});
