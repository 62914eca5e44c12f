/**
 * Bodies for debugging (docs/observability.md, "Bodies"): with LOG_BUCKET bound (wrangler.toml binds it, Miniflare
 * simulates R2), the calls of a key or team with `log_bodies: true` store their request and answer, redacted, and
 * `GET /admin/logs/{request_id}/body` reads them back.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { bodiesAnswer, bodiesRequest } from "../../src/observe/bodies";
import { MAX_BODY_BYTES, pruneBodies } from "../../src/observe/body-store";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey, genaiCall, genaiSettled, textRequest } from "../helpers/worker";

const MODEL = "mock/gemini-2.0-flash";

afterEach(() => vi.restoreAllMocks());

async function mint(fields: Record<string, unknown>): Promise<string> {
  const r = await admin("/tokens", { body: fields });
  if (r.status !== 201) throw new Error(`mint failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

const bodyOf = (id: string, token?: string) =>
  token ? SELF.fetch(`${BASE}/admin/logs/${id}/body`, { headers: { authorization: `Bearer ${token}` } }) : admin(`/logs/${id}/body`);

/** Every stored object whose key names this request id. */
async function storedKeys(requestId: string): Promise<string[]> {
  const all = await env.LOG_BUCKET!.list({ prefix: "bodies/" });
  return all.objects.map((o) => o.key).filter((k) => k.endsWith(`/${requestId}`));
}

/** The text of an SSE answer's events, in order, and how many there were. */
function sseText(raw: string): { text: string; events: number } {
  const events = raw.split(/\r?\n\r?\n/).filter((f) => f.startsWith("data: ")).map((f) => JSON.parse(f.slice(6)));
  const text = events.map((e) => (e.candidates?.[0]?.content?.parts ?? []).map((p: { text?: string }) => p.text ?? "").join("")).join("");
  return { text, events: events.length };
}

describe("log_bodies", () => {
  it("a JSON call's request and answer are stored under its request id and read back", async () => {
    const k = await createKey({ log_bodies: true });
    expect(k.log_bodies).toBe(true);
    const request = textRequest("hello bodies", { generationConfig: { temperature: 0.5 } });
    const res = await genaiSettled(MODEL, "generateContent", request, k.key);
    expect(res.status).toBe(200);
    const answer = await res.json();
    const id = res.headers.get("x-edgeway-request-id")!;
    const r = await bodyOf(id);
    expect(r.status).toBe(200);
    const stored = (await r.json()) as Record<string, unknown>;
    expect(stored).toMatchObject({
      request_id: id, key_id: k.id, team_id: null, action: "generateContent", model: MODEL, stream: false,
      status: 200, outcome: "ok", request, answer,
    });
    expect(stored).not.toHaveProperty("error");
    expect(stored.request_truncated).toBeUndefined();
    expect(stored.answer_truncated).toBeUndefined();
    // Filed under the day of the call.
    expect(await storedKeys(id)).toEqual([`bodies/${(stored.at as string).slice(0, 10)}/${id}`]);
  });

  it("a stream is passed on as it comes and stored assembled: one answer with the events' text joined", async () => {
    const k = await createKey({ log_bodies: true });
    const prompt = "tell me a long story about streams that are assembled";
    const res = await genaiSettled(MODEL, "streamGenerateContent", textRequest(prompt), k.key, { query: "?alt=sse" });
    expect(res.status).toBe(200);
    const sent = sseText(await res.text());
    expect(sent.events).toBeGreaterThan(1);
    const stored = (await (await bodyOf(res.headers.get("x-edgeway-request-id")!)).json()) as {
      stream: boolean; events: number; answer: { candidates: { content: { parts: { text: string }[] }; finishReason?: string }[]; usageMetadata?: unknown };
    };
    expect(stored.stream).toBe(true);
    expect(stored.events).toBe(sent.events);
    expect(stored.answer.candidates).toHaveLength(1);
    expect(stored.answer.candidates[0]!.content.parts).toEqual([{ text: sent.text }]);
    expect(stored.answer.candidates[0]!.finishReason).toBe("STOP");
    expect(stored.answer.usageMetadata).toBeTruthy();
  });

  it("a team's log_bodies covers its keys; a key without it (and no such team) stores nothing", async () => {
    const team = await createTeam({ name: "logged-team", log_bodies: true });
    const inTeam = await createKey({ team_id: team.id });
    const plain = await createKey();
    const a = await genaiSettled(MODEL, "generateContent", textRequest("team call"), inTeam.key);
    const b = await genaiSettled(MODEL, "generateContent", textRequest("plain call"), plain.key);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect((await bodyOf(a.headers.get("x-edgeway-request-id")!)).status).toBe(200);
    const idB = b.headers.get("x-edgeway-request-id")!;
    const r = await bodyOf(idB);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: { code: 404, message: `no body stored for request "${idB}"`, status: "NOT_FOUND" } });
    expect(await storedKeys(idB)).toEqual([]);
    // Turned off again by PATCH: nothing more is stored.
    await admin(`/teams/${team.id}`, { method: "PATCH", body: { log_bodies: false } });
    const { forgetTeam } = await import("../../src/governance/team-store");
    forgetTeam(team.id);
    const c = await genaiSettled(MODEL, "generateContent", textRequest("after off"), inTeam.key);
    expect(await storedKeys(c.headers.get("x-edgeway-request-id")!)).toEqual([]);
  });

  it("costs a call of a key and team without log_bodies nothing: the hooks are not asked and never see the answer", async () => {
    const asked = [vi.spyOn(bodiesAnswer, "beforeUpstream"), vi.spyOn(bodiesAnswer, "onAnswer"), vi.spyOn(bodiesRequest, "beforeUpstream")];
    const team = await createTeam({ name: "unlogged-team" });
    const plain = await createKey();
    const member = await createKey({ team_id: team.id });
    for (const k of [plain, member, member]) {
      const res = await genaiSettled(MODEL, "streamGenerateContent", textRequest("plain"), k.key, { query: "?alt=sse" });
      expect(res.status).toBe(200);
    }
    // A team's record is held by the isolate once admission has read it: the team's keys are seen not to log too.
    for (const spy of asked) expect(spy).not.toHaveBeenCalled();
  });

  it("secrets in the prompt (provider keys, the admin token, a virtual key) are redacted in the stored request and answer", async () => {
    const k = await createKey({ log_bodies: true });
    const vk = `sk-bf-${"Q".repeat(40)}`;
    const prompt = `keys: test-gemini-key and test-admin-token-0123456789abcdef and ${vk} and test-openai-key`;
    const res = await genaiSettled(MODEL, "generateContent", textRequest(prompt), k.key);
    expect(res.status).toBe(200);
    const text = await (await bodyOf(res.headers.get("x-edgeway-request-id")!)).text();
    for (const secret of ["test-gemini-key", "test-admin-token-0123456789abcdef", vk, "test-openai-key"]) expect(text).not.toContain(secret);
    const stored = JSON.parse(text);
    expect(stored.request.contents[0].parts[0].text).toBe("keys: [redacted] and [redacted] and [redacted] and [redacted]");
    // The mock repeats the prompt: the answer's copy is redacted too.
    expect(stored.answer.candidates[0].content.parts[0].text).toContain("[redacted] and [redacted]");
  });

  it("a guardrail's redaction is what is stored (the prompt as the upstream got it)", async () => {
    const GUARDRAILS = JSON.stringify({ pii: { kind: "pii", on: "both", action: "redact", entities: ["email"] } });
    const withGuard = { ...env, GUARDRAILS };
    const ctx = createExecutionContext();
    const created = await worker.fetch(
      new Request(`${BASE}/admin/keys`, { method: "POST", headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" }, body: JSON.stringify({ name: "g", guardrails: ["pii"], log_bodies: true }) }),
      withGuard, ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(created.status).toBe(201);
    const k = (await created.json()) as { key: string };
    const { res, settled } = await genaiCall(MODEL, "generateContent", textRequest("mail me at jane.doe@example.com"), k.key, { env: { GUARDRAILS } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeway-guardrails")).toContain("pii=redact");
    await res.text();
    await settled();
    const text = await (await bodyOf(res.headers.get("x-edgeway-request-id")!)).text();
    expect(text).not.toContain("jane.doe@example.com");
    expect(JSON.parse(text).request.contents[0].parts[0].text).toBe("mail me at [EMAIL]");

    // A prompt a guardrail blocks is not stored: the answer (the block) is, with a note saying why.
    const blocking = JSON.stringify({ ssn: { kind: "pii", on: "input", action: "block", entities: ["us_ssn"] } });
    const ctx2 = createExecutionContext();
    const made = await worker.fetch(
      new Request(`${BASE}/admin/keys`, { method: "POST", headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" }, body: JSON.stringify({ name: "b", guardrails: ["ssn"], log_bodies: true }) }),
      { ...env, GUARDRAILS: blocking }, ctx2,
    );
    await waitOnExecutionContext(ctx2);
    const kb = (await made.json()) as { key: string };
    const blocked = await genaiCall(MODEL, "generateContent", textRequest("my ssn is 123-45-6789"), kb.key, { env: { GUARDRAILS: blocking } });
    const answer = (await blocked.res.json()) as { promptFeedback?: { blockReason: string } };
    expect(answer.promptFeedback?.blockReason).toBe("BLOCKLIST");
    await blocked.settled();
    const stored = await (await bodyOf(blocked.res.headers.get("x-edgeway-request-id")!)).text();
    expect(stored).not.toContain("123-45-6789");
    expect(JSON.parse(stored)).toMatchObject({ request: null, answer, note: "the prompt was blocked by a guardrail and is not stored" });
  });

  it("a huge request and answer are stored truncated at the limit and marked so; a huge stream stops growing", async () => {
    const k = await createKey({ log_bodies: true });
    const big = "x".repeat(MAX_BODY_BYTES + 50_000);
    const answerText = "y".repeat(MAX_BODY_BYTES + 50_000);
    const piece = "z".repeat(10_000);
    const n = Math.ceil((MAX_BODY_BYTES + 50_000) / piece.length);
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      const url = new Request(input as RequestInfo).url;
      if (!url.includes(":streamGenerateContent")) {
        return Response.json({ candidates: [{ index: 0, content: { role: "model", parts: [{ text: answerText }] }, finishReason: "STOP" }] });
      }
      const frames = Array.from({ length: n }, (_, i) =>
        `data: ${JSON.stringify({ candidates: [{ index: 0, content: { role: "model", parts: [{ text: piece }] }, ...(i === n - 1 ? { finishReason: "STOP" } : {}) }] })}\r\n\r\n`);
      return new Response(frames.join(""), { headers: { "content-type": "text/event-stream" } });
    });
    const res = await genaiSettled("gemini/gemini-2.0-flash", "generateContent", textRequest(big), k.key);
    expect(res.status).toBe(200);
    const stored = (await (await bodyOf(res.headers.get("x-edgeway-request-id")!)).json()) as Record<string, unknown>;
    expect(stored.request_truncated).toBe(true);
    expect(typeof stored.request).toBe("string");
    expect(new TextEncoder().encode(stored.request as string).length).toBe(MAX_BODY_BYTES);
    expect((stored.request as string).startsWith('{"contents":[{"role":"user","parts":[{"text":"xxxx')).toBe(true);
    expect(stored.answer_truncated).toBe(true);
    expect(new TextEncoder().encode(stored.answer as string).length).toBe(MAX_BODY_BYTES);

    const s = await genaiSettled("gemini/gemini-2.0-flash", "streamGenerateContent", textRequest("short"), k.key, { query: "?alt=sse" });
    const sent = sseText(await s.text());
    // The client got every event, whole.
    expect(sent.events).toBe(n);
    expect(sent.text.length).toBe(n * piece.length);
    const st = (await (await bodyOf(s.headers.get("x-edgeway-request-id")!)).json()) as { answer_truncated?: boolean; events: number; answer: { candidates: { content: { parts: { text: string }[] }; finishReason?: string }[] } };
    expect(st.answer_truncated).toBe(true);
    expect(st.events).toBe(n);
    const kept = st.answer.candidates[0]!.content.parts[0]!.text;
    expect(kept.length).toBeLessThanOrEqual(MAX_BODY_BYTES);
    expect(kept.length).toBeGreaterThan(MAX_BODY_BYTES - piece.length);
    // What came after the limit still says how the stream ended.
    expect(st.answer.candidates[0]!.finishReason).toBe("STOP");
  });

  it("a failed call stores its request and its error", async () => {
    const k = await createKey({ log_bodies: true });
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(JSON.stringify({ error: { code: 500, message: "boom", status: "INTERNAL" } }), { status: 500 }));
    const res = await genaiSettled("gemini/gemini-2.0-flash", "generateContent", textRequest("will fail"), k.key);
    expect(res.status).toBe(500);
    const stored = (await (await bodyOf(res.headers.get("x-edgeway-request-id")!)).json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ status: 500, outcome: "error", answer: null, request: textRequest("will fail") });
    expect(stored.error).toContain("boom");
  });
});

describe("GET /admin/logs/{request_id}/body: who reads", () => {
  it("a viewer reads any body; a team_admin only its own team's (another team's is 404, as if absent)", async () => {
    const teamA = await createTeam({ name: "bodies-a" });
    const teamB = await createTeam({ name: "bodies-b" });
    const k = await createKey({ team_id: teamA.id, log_bodies: true });
    const res = await genaiSettled(MODEL, "generateContent", textRequest("team a secret plan"), k.key);
    const id = res.headers.get("x-edgeway-request-id")!;
    const viewer = await mint({ name: "bv", role: "viewer" });
    const adminA = await mint({ name: "ba", role: "team_admin", team_id: teamA.id });
    const adminB = await mint({ name: "bb", role: "team_admin", team_id: teamB.id });
    expect((await bodyOf(id, viewer)).status).toBe(200);
    expect((await bodyOf(id, adminA)).status).toBe(200);
    const other = await bodyOf(id, adminB);
    expect(other.status).toBe(404);
    expect(await other.text()).not.toContain("secret plan");
    // The team admin reads no log list, and writes nothing here.
    expect((await SELF.fetch(`${BASE}/admin/logs`, { headers: { authorization: `Bearer ${adminA}` } })).status).toBe(403);
    expect((await SELF.fetch(`${BASE}/admin/logs/${id}/body`, { method: "DELETE", headers: { authorization: `Bearer ${viewer}` } })).status).toBe(403);
  });

  it("a request id that is not a UUID, or a path trick, finds nothing", async () => {
    expect((await admin("/logs/not-a-uuid/body")).status).toBe(404);
    expect((await admin("/logs/..%2F..%2Fusage%2Fx/body")).status).toBe(404);
  });
});

describe("without LOG_BUCKET", () => {
  it("a log_bodies key's calls are served as usual and store nothing; the read route answers 503", async () => {
    const k = await createKey({ log_bodies: true });
    const { res, settled } = await genaiCall(MODEL, "generateContent", textRequest("unbound"), k.key, { env: { LOG_BUCKET: undefined } });
    expect(res.status).toBe(200);
    await res.text();
    await settled();
    const id = res.headers.get("x-edgeway-request-id")!;
    expect(await storedKeys(id)).toEqual([]);
    const ctx = createExecutionContext();
    const r = await worker.fetch(new Request(`${BASE}/admin/logs/${id}/body`, { headers: { authorization: "Bearer test-admin-token-0123456789abcdef" } }), { ...env, LOG_BUCKET: undefined }, ctx);
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { message: string } }).error.message).toContain("LOG_BUCKET");
  });
});

describe("retention", () => {
  it("the cron's pruning deletes whole days before LOG_BODIES_RETENTION_DAYS, oldest first, and keeps the rest", async () => {
    const bucket = env.LOG_BUCKET!;
    const now = Date.parse("2026-06-20T12:00:00Z");
    const keys = ["2026-06-01", "2026-06-10", "2026-06-17", "2026-06-20"].flatMap((d) => [0, 1, 2].map((i) => `bodies/${d}/0000000${i}-0000-4000-8000-00000000000${i}`));
    await Promise.all(keys.map((k) => bucket.put(k, "{}")));
    const r = await pruneBodies({ ...env, LOG_BODIES_RETENTION_DAYS: "5" }, now);
    expect(r).toEqual({ deleted: 6, done: true });
    const left = (await bucket.list({ prefix: "bodies/2026-06" })).objects.map((o) => o.key.slice(7, 17));
    expect(new Set(left)).toEqual(new Set(["2026-06-17", "2026-06-20"]));
    await bucket.delete(keys);
  });
});
