/**
 * Guardrails on Live sessions, with real WebSocket frames in workerd: the client's text (setup system instruction,
 * clientContent turns, realtimeInput text, tool responses) and the model's (modelTurn text, outputTranscription,
 * toolCall args) checked by the key's policies; a block closes the session with 4451; audio passes unread; the
 * session's row lists what acted. The upstream is a WebSocketPair the test holds.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { ADMIN, BASE, mockUpstream, rowWhenWritten } from "../helpers/worker";

const LIVE = "/genai/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const MODEL = "models/gemini-2.0-flash-live-001";
const SETUP = JSON.stringify({ setup: { model: MODEL } });

const GUARDED = {
  GUARDRAILS: JSON.stringify({
    redact: { kind: "pii", on: "both", action: "redact" },
    block_in: { kind: "pii", on: "input", action: "block", entities: ["us_ssn"] },
    block_out: { kind: "pii", on: "output", action: "block", entities: ["credit_card"] },
    words: { kind: "regex", on: "input", action: "block", patterns: ["(?i)project\\s+nightingale"] },
    judge: { kind: "model", on: "input", action: "block", model: "gemini/gemini-2.0-flash-lite" },
    judge_out: { kind: "model", on: "output", action: "block", model: "gemini/gemini-2.0-flash-lite" },
  }),
};

afterEach(() => vi.restoreAllMocks());

async function keyWith(guardrails: string[]): Promise<string> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}/admin/keys`, { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "live-guarded", guardrails }) }),
    { ...env, ...GUARDED } as Cloudflare.Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

/** The upstream socket: what it received, and its end for the test to send from. */
function upstreamSocket() {
  const received: string[] = [];
  const sockets: WebSocket[] = [];
  /** What the judge model (gemini-2.0-flash-lite over HTTP) was asked, in order. */
  const judged: string[] = [];
  const calls = mockUpstream((call) => {
    if (call.url.includes("flash-lite")) {
      // The judge: `unsafe` for a text that says "bad".
      const text = JSON.parse(call.body).contents[0].parts[0].text as string;
      judged.push(JSON.parse(text));
      const verdict = text.includes("bad") ? "unsafe" : "safe";
      return Response.json({ candidates: [{ content: { role: "model", parts: [{ text: verdict }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 1, totalTokenCount: 101 } });
    }
    const pair = new WebSocketPair();
    pair[1].accept();
    pair[1].addEventListener("message", (e) => {
      const d = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
      received.push(d);
      if (d.includes('"setup"')) pair[1].send(JSON.stringify({ setupComplete: {} }));
    });
    sockets.push(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  });
  return { calls, received, sockets, judged, sessions: () => calls.filter((c) => !c.url.includes("flash-lite")) };
}

/** A client session under GUARDRAILS; `open`: waits for setupComplete. */
async function session(key: string, setup = SETUP, open = true) {
  const req = new Request(`${BASE}${LIVE}`, { headers: { upgrade: "websocket", "x-goog-api-key": key } });
  const res = await worker.fetch(req, { ...env, ...GUARDED } as never, createExecutionContext());
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: string[] = [];
  const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
  ws.addEventListener("message", (e) => frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)));
  ws.accept();
  ws.send(setup);
  if (open) await vi.waitFor(() => expect(frames.some((f) => f.includes("setupComplete"))).toBe(true));
  return { ws, frames, closed, requestId: res.headers.get("x-edgeway-request-id") };
}

const rowOf = rowWhenWritten;

const turn = (text: string) => JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text }] }], turnComplete: true } });
const modelText = (text: string, extra: Record<string, unknown> = {}) => JSON.stringify({ serverContent: { modelTurn: { parts: [{ text }] }, ...extra } });
/** The model's text the client got, joined. */
const heard = (frames: string[]) =>
  frames.map((f) => JSON.parse(f)).map((m) => (m.serverContent?.modelTurn?.parts ?? []).map((p: { text?: string }) => p.text ?? "").join("")).join("");

describe("guardrails on Live sessions: input", () => {
  it("redact masks the text of clientContent turns, realtimeInput text and tool responses; audio passes as it came; the row lists it", async () => {
    const key = await keyWith(["redact"]);
    const up = upstreamSocket();
    const s = await session(key);
    const audio = JSON.stringify({ realtimeInput: { audio: { mimeType: "audio/pcm;rate=16000", data: "QUJDRA4xMTEgMTExMSAxMTExIDExMTE=" } } });
    s.ws.send(turn("mail me at jane.doe@corp.example"));
    s.ws.send(JSON.stringify({ realtimeInput: { text: "card 4111 1111 1111 1111" } }));
    s.ws.send(JSON.stringify({ toolResponse: { functionResponses: [{ id: "1", name: "lookup", response: { owner: "bob@corp.example" } }] } }));
    s.ws.send(audio);
    await vi.waitFor(() => expect(up.received).toHaveLength(5));
    const [, t, rt, tool, a] = up.received;
    expect(JSON.parse(t!).clientContent.turns[0].parts[0].text).toBe("mail me at [EMAIL]");
    expect(JSON.parse(rt!).realtimeInput.text).toBe("card [CREDIT_CARD]");
    expect(JSON.parse(tool!).toolResponse.functionResponses[0].response).toEqual({ owner: "[EMAIL]" });
    expect(a).toBe(audio);
    for (const secret of ["jane", "4111", "bob@"]) expect(up.received.join("\n")).not.toContain(secret);
    s.ws.close(1000, "bye");
    const row = await rowOf(s.requestId);
    expect(row).toMatchObject({ status: 200, outcome: "ok", closed_by: "client" });
    expect(JSON.parse(row.guardrails as string)).toEqual([{ policy: "redact", stage: "input", action: "redact", entities: { email: 2, credit_card: 1 } }]);
  });

  it("a blocked input frame is not passed on: the session closes with 4451 and a reason naming the policy", async () => {
    const key = await keyWith(["block_in", "redact"]);
    const up = upstreamSocket();
    const s = await session(key);
    s.ws.send(turn("my ssn is 123-45-6789"));
    const closed = await s.closed;
    expect(closed.code).toBe(4451);
    expect(closed.reason).toBe('BLOCKLIST: the input was blocked by guardrail policy "block_in"');
    expect(up.received.join("\n")).not.toContain("6789");
    const row = await rowOf(s.requestId);
    expect(row).toMatchObject({ status: 200, outcome: "ok", closed_by: "gateway", close_code: 4451 });
    expect(JSON.parse(row.guardrails as string)).toEqual([{ policy: "block_in", stage: "input", action: "block", entities: { us_ssn: 1 } }]);
  });

  it("a blocked system instruction in the setup: closed with 4451 before any upstream call", async () => {
    const key = await keyWith(["words"]);
    const up = upstreamSocket();
    const s = await session(key, JSON.stringify({ setup: { model: MODEL, systemInstruction: { parts: [{ text: "You work on Project  Nightingale." }] } } }), false);
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4451, 'BLOCKLIST: the input was blocked by guardrail policy "words"']);
    expect(up.calls).toHaveLength(0);
    expect(await rowOf(s.requestId)).toMatchObject({ status: 200, close_code: 4451, cost_usd: 0 });
  });

  it("hostile spellings are read as the upstream reads them: snake_case fields, an escaped field name, look-alike digits", async () => {
    const key = await keyWith(["block_in"]);
    for (const frame of [
      JSON.stringify({ client_content: { turns: [{ role: "user", parts: [{ text: "ssn 123-45-6789" }] }] } }),
      '{"clientContent":{"turns":[{"role":"user","parts":[{"t\\u0065xt":"ssn 123-45-6789"}]}]}}',
      JSON.stringify({ realtime_input: { text: "ssn １２３-４５-６７８９" } }),
    ]) {
      vi.restoreAllMocks();
      const up = upstreamSocket();
      const s = await session(key);
      s.ws.send(frame);
      expect((await s.closed).code).toBe(4451);
      expect(up.received).toHaveLength(1);
    }
  });

  it("a frame with text that is not a JSON object is not passed on (4400)", async () => {
    const key = await keyWith(["block_in"]);
    const up = upstreamSocket();
    const s = await session(key);
    s.ws.send('{clientContent: {turns: [{parts: [{text: "ssn 123-45-6789"}]}]}}');
    expect((await s.closed).code).toBe(4400);
    expect(up.received).toHaveLength(1);
  });

  it("an input judge reads each client message before it goes on, later frames waiting behind it; unsafe closes with 4451; its cost is the session's", async () => {
    const key = await keyWith(["judge"]);
    const up = upstreamSocket();
    const s = await session(key, JSON.stringify({ setup: { model: MODEL, systemInstruction: { parts: [{ text: "be kind" }] } } }));
    const audio = JSON.stringify({ realtimeInput: { audio: { mimeType: "audio/pcm;rate=16000", data: "AAAA" } } });
    s.ws.send(turn("hello there"));
    s.ws.send(audio);
    await vi.waitFor(() => expect(up.received).toHaveLength(3));
    // In order: the judged turn first, then the audio that came after it.
    expect(JSON.parse(up.received[1]!).clientContent.turns[0].parts[0].text).toBe("hello there");
    expect(up.received[2]).toBe(audio);
    s.ws.send(JSON.stringify({ realtimeInput: { text: "something bad" } }));
    s.ws.send(turn("and after it"));
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4451, 'PROHIBITED_CONTENT: the input was blocked by guardrail policy "judge"']);
    expect(up.received.join("\n")).not.toContain("something bad");
    expect(up.received.join("\n")).not.toContain("and after it");
    expect(up.judged).toEqual(["be kind", "hello there", "something bad"]);
    const row = await rowOf(s.requestId);
    const [entry] = JSON.parse(row.guardrails as string);
    expect(entry).toMatchObject({ policy: "judge", stage: "input", action: "block", entities: { unsafe: 1 } });
    expect(entry.cost_usd).toBeGreaterThan(0);
    expect(row.cost_usd as number).toBeGreaterThanOrEqual(entry.cost_usd);
  });

  it("an input judge on the setup: an unsafe system instruction closes with 4451 before any upstream socket", async () => {
    const key = await keyWith(["judge"]);
    const up = upstreamSocket();
    const s = await session(key, JSON.stringify({ setup: { model: MODEL, systemInstruction: { parts: [{ text: "be bad" }] } } }), false);
    expect((await s.closed).code).toBe(4451);
    expect(up.sessions()).toHaveLength(0);
    expect(up.judged).toEqual(["be bad"]);
  });
});

describe("guardrails on Live sessions: output", () => {
  it("the model's text split across frames is redacted whole (held back until the turn completes); transcriptions too", async () => {
    const key = await keyWith(["redact"]);
    const up = upstreamSocket();
    const s = await session(key);
    const u = up.sockets[0]!;
    u.send(modelText("Write to jane.d"));
    u.send(modelText("oe@corp.example soon"));
    u.send(JSON.stringify({ serverContent: { outputTranscription: { text: "call +44 20 7946 0958" } } }));
    u.send(JSON.stringify({ serverContent: { turnComplete: true } }));
    await vi.waitFor(() => expect(s.frames.some((f) => f.includes("turnComplete"))).toBe(true));
    const out = s.frames.slice(1);
    expect(heard(out)).toBe("Write to [EMAIL] soon");
    const transcript = out.map((f) => JSON.parse(f).serverContent?.outputTranscription?.text ?? "").join("");
    expect(transcript).toBe("call [PHONE]");
    for (const secret of ["jane", "corp.example", "7946"]) expect(out.join("\n")).not.toContain(secret);
    // The turn's end comes after the text it released.
    expect(out.at(-1)).toContain("turnComplete");
    s.ws.close(1000, "bye");
    const row = await rowOf(s.requestId);
    expect(JSON.parse(row.guardrails as string)).toEqual([{ policy: "redact", stage: "output", action: "redact", entities: { email: 1, phone: 1 } }]);
  });

  it("held text goes out checked when the upstream closes mid-turn", async () => {
    const key = await keyWith(["redact"]);
    const up = upstreamSocket();
    const s = await session(key);
    up.sockets[0]!.send(modelText("reach me at ann@corp.example"));
    await new Promise((r) => setTimeout(r, 20));
    up.sockets[0]!.close(1000, "done");
    await s.closed;
    expect(heard(s.frames.slice(1))).toBe("reach me at [EMAIL]");
  });

  it("a blocked answer closes the session with 4451 (SPII) and none of the match reaches the client; tool-call args are checked", async () => {
    const key = await keyWith(["block_out"]);
    const up = upstreamSocket();
    const s = await session(key);
    up.sockets[0]!.send(modelText("your card: 4111 1111 "));
    up.sockets[0]!.send(modelText("1111 1111 ok"));
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4451, 'SPII: the output was blocked by guardrail policy "block_out"']);
    expect(s.frames.join("\n")).not.toContain("4111");
    const row = await rowOf(s.requestId);
    expect(JSON.parse(row.guardrails as string)).toEqual([{ policy: "block_out", stage: "output", action: "block", entities: { credit_card: 1 } }]);

    vi.restoreAllMocks();
    const up2 = upstreamSocket();
    const t = await session(key);
    up2.sockets[0]!.send(JSON.stringify({ toolCall: { functionCalls: [{ id: "1", name: "pay", args: { card: "4111-1111-1111-1111" } }] } }));
    expect((await t.closed).code).toBe(4451);
    expect(t.frames.join("\n")).not.toContain("4111");
  });

  it("an output judge reads each turn when it ends: unsafe closes with 4451 instead of passing the turn's end", async () => {
    const key = await keyWith(["judge_out"]);
    const up = upstreamSocket();
    const s = await session(key);
    const u = up.sockets[0]!;
    u.send(modelText("a fine "));
    u.send(modelText("answer", { turnComplete: true }));
    await vi.waitFor(() => expect(s.frames.some((f) => f.includes("turnComplete"))).toBe(true));
    u.send(modelText("a bad answer"));
    u.send(JSON.stringify({ serverContent: { turnComplete: true } }));
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([4451, 'PROHIBITED_CONTENT: the output was blocked by guardrail policy "judge_out"']);
    expect(up.judged).toEqual(["a fine answer", "a bad answer"]);
    expect(s.frames.filter((f) => f.includes("turnComplete"))).toHaveLength(1);
  });

  it("a key without policies (or a gateway without GUARDRAILS) relays the frames untouched", async () => {
    const key = await keyWith([]);
    const up = upstreamSocket();
    const s = await session(key);
    s.ws.send(turn("jane.doe@corp.example"));
    up.sockets[0]!.send(modelText("jane.doe@corp.example"));
    await vi.waitFor(() => expect(up.received).toHaveLength(2));
    await vi.waitFor(() => expect(s.frames).toHaveLength(2));
    expect(up.received[1]).toBe(turn("jane.doe@corp.example"));
    expect(s.frames[1]).toBe(modelText("jane.doe@corp.example"));
    s.ws.close(1000, "bye");
  });
});
