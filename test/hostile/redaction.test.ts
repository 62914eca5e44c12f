/**
 * A hostile (or careless) upstream echoes the gateway's provider key back in an error: JSON-escaped, upper-cased,
 * URL-encoded, one character short. None of those spellings may reach the caller (error answers, stream error
 * events) or the usage log (the row's error column, /admin/logs).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MIN_HELD, MIN_RUN, REDACTED, redact, textStreamRedactor } from "../../src/gemini/redact";
import { admin, createKey, genaiSettled, mockUpstream, readSse, sseResponse, textRequest, usageRow } from "../helpers/worker";

// The provider keys the workers project configures (vitest.config.ts).
const GEMINI = "test-gemini-key";
const OPENAI = "test-openai-key";
const ANTHROPIC = "test-anthropic-key";

/** Whether any run of MIN_RUN characters of `secret` can be read in `text`, whatever its spelling (independent of src). */
function leaks(text: string, secret: string): boolean {
  let t = text;
  for (let i = 0; i < 3; i++) {
    t = t
      .replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
      .replace(/%([0-7][0-9a-fA-F])/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  }
  t = t.toLowerCase();
  // The secret as it is, and its bytes as hex (either case: the text is lower-cased).
  for (const s of [secret.toLowerCase(), hex(secret)]) {
    const run = Math.min(MIN_RUN, s.length);
    for (let j = 0; j + run <= s.length; j++) if (t.includes(s.slice(j, j + run))) return true;
  }
  return false;
}

const hex = (s: string) => [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

const jsonEscaped = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
const urlEncoded = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join("");

/** Every spelling of `k` the review found coming back in full. */
const spellings = (k: string): [string, string][] => [
  ["verbatim", k],
  ["JSON \\u escapes", jsonEscaped(k)],
  ["upper-cased", k.toUpperCase()],
  ["URL-encoded", urlEncoded(k)],
  ["partly URL-encoded", k.replace(/-/g, "%2d")],
  ["one character short", k.slice(0, -1)],
  ["one character short at the front", k.slice(1)],
  ["double-encoded", urlEncoded(k).replace(/%/g, "%25")],
  ["escaped and upper-cased", jsonEscaped(k.toUpperCase())],
  ["hex-encoded", hex(k)],
  ["hex-encoded, upper case", hex(k).toUpperCase()],
  ["hex-encoded, one byte short", hex(k).slice(2)],
];

describe("redact()", () => {
  const key = "sk-proj-AbCdEf0123456789GhIjKl";

  it.each(spellings(key))("takes out the key %s, and leaves the rest of the text as it was", (_how, spelled) => {
    const text = `Incorrect API key provided: ${spelled}. See https://example.test/keys?a=%20b for help \\n`;
    const out = redact(text, [key]);
    expect(out).toBe(`Incorrect API key provided: ${REDACTED}. See https://example.test/keys?a=%20b for help \\n`);
    expect(leaks(out, key)).toBe(false);
  });

  it.each([0, 1, 2, 3, 4, 5])("takes out a key base64-encoded after %i bytes of other data, in either alphabet, leaving only the edges", (n) => {
    const pre = "user:xyz".slice(0, n);
    for (const post of ["", "!", "??"]) {
      const b64 = btoa(pre + key + post);
      for (const spelled of [b64, b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")]) {
        const out = redact(`Unauthorized: Basic ${spelled} (retry)`, [key]);
        const m = /^Unauthorized: Basic ([A-Za-z0-9+/_-]*)\[redacted\]([A-Za-z0-9+/_=-]*) \(retry\)$/.exec(out);
        expect(m, out).not.toBeNull();
        // Left of the encoding: only the characters that also carry bits of the data around the key.
        expect(m![1]!.length).toBeLessThanOrEqual(Math.ceil((4 * n) / 3));
        expect(m![2]!.replace(/=+$/, "").length).toBeLessThanOrEqual(Math.ceil((4 * post.length) / 3) + 1);
      }
    }
  });

  it("leaves base64 that carries no key alone", () => {
    const text = `data ${btoa("hello world, nothing secret in here at all")} end`;
    expect(redact(text, [key])).toBe(text);
  });

  it("takes out any run of MIN_RUN characters of a key, and no shorter run", () => {
    const run = key.slice(5, 5 + MIN_RUN);
    expect(redact(`x ${run} y`, [key])).toBe(`x ${REDACTED} y`);
    const short = key.slice(5, 5 + MIN_RUN - 1);
    expect(redact(`x ${short} y`, [key])).toBe(`x ${short} y`);
  });

  it("takes out every occurrence of every secret, adjacent or overlapping", () => {
    const other = "another-secret-value-42";
    const text = `${key}${key.toUpperCase()} and ${jsonEscaped(other)}, again ${other.slice(3)}`;
    expect(redact(text, [key, other, undefined as never, ""])).toBe(`${REDACTED} and ${REDACTED}, again ${REDACTED}`);
  });

  it("a secret shorter than MIN_RUN must appear whole, as a word of its own", () => {
    expect(redact("token SHORT-9 and short, (short-9)", ["short-9"])).toBe(`token ${REDACTED} and short, (${REDACTED})`);
    expect(redact("network ok, key=%6B", ["k"])).toBe(`network ok, key=${REDACTED}`);
    expect(redact("xshort-9 short-90", ["short-9"])).toBe("xshort-9 short-90");
  });

  it("takes out a key's hex inside a longer hex dump, leaving the bytes around it", () => {
    const dump = `${hex("POST /v1 x-goog-api-key: ")}${hex(key)}${hex("\r\n")}`;
    for (const d of [dump, dump.toUpperCase()]) {
      const out = redact(`sent: ${d}`, [key]);
      expect(out).toBe(`sent: ${d.slice(0, hex("POST /v1 x-goog-api-key: ").length)}${REDACTED}${d.slice(-4)}`);
    }
    // Hex that carries no key is left alone.
    expect(redact(`sent: ${hex("nothing secret in here at all")}`, [key])).toBe(`sent: ${hex("nothing secret in here at all")}`);
  });

  it("text with no secret, broken escapes or non-ASCII comes back unchanged", () => {
    for (const t of ["", "%", "%zz \\u12", "naïve ☃ 𝄞 %E2%98%83 \\u2603", "no key here"]) expect(redact(t, [key])).toBe(t);
  });
});

describe("a text that arrives in pieces (a stream's answer)", () => {
  const key = "sk-proj-AbCdEf0123456789GhIjKl";
  const make = textStreamRedactor([key])!;
  /** Sends `pieces` through one stream redactor: what went out for each piece, and the tail flushed at the end. */
  const run = (pieces: string[]) => {
    const r = make();
    const out = pieces.map((p) => r.text(0, p));
    return { out, tail: r.flush(0), all: out.join("") + r.flush(0) };
  };
  const cut = (text: string, size: number) => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

  it.each([1, 2, 3, 5, 7, 11])("a key cut into %i-character pieces, as it is, in hex or upper-case hex: no run of it goes out", (size) => {
    for (const spelled of [key, hex(key), hex(key).toUpperCase(), jsonEscaped(key)]) {
      const text = `Your key is ${spelled}, keep it safe.`;
      const { all } = run(cut(text, size));
      expect(leaks(all, key)).toBe(false);
      expect(all).toContain(REDACTED);
      expect(all.startsWith("Your key is ")).toBe(true);
      expect(all.endsWith(", keep it safe.")).toBe(true);
    }
  });

  it("pieces that cannot begin a secret go out at once, unchanged; only a tail that could waits, and is flushed at the end", () => {
    const pieces = ["Hello there. ", "The weather ", "is fine today", " and tomorrow."];
    expect(run(pieces).out).toEqual(pieces);
    // A piece ending in the first characters of the key holds them (MIN_HELD or more), the next one gets them back.
    const { out, tail } = run(["Here: sk-p", "roj and more", " text: sk-proj"]);
    expect(out).toEqual(["Here: ", "sk-proj and more", " text: "]);
    expect(tail).toBe("sk-proj");
    // Fewer than MIN_HELD characters are not held: most text ends in a character some key holds.
    expect(run(["Here: s", "k"]).out).toEqual(["Here: s", "k"]);
    expect(MIN_HELD).toBe(4);
  });

  it("a key already redacted in one piece is redacted on into the next (its last characters are not let out)", () => {
    const { all } = run([`a ${key.slice(0, 20)}`, `${key.slice(20)} b`]);
    expect(all).toBe(`a ${REDACTED} b`);
  });

  it("hostile: a tail never grows past MIN_RUN - 1 characters, however long a near-miss of the key runs", () => {
    const r = make();
    // Each piece repeats 11 characters of the key without ever making 12 of it.
    for (let i = 0; i < 50; i++) {
      r.text(0, `${key.slice(0, 11)} `);
      r.text(0, key.slice(0, 11));
    }
    expect(r.flush(0).length).toBeLessThan(MIN_RUN);
  });
});

// A key per test, so /admin/logs for it shows this test's row only.
let vk: string;
beforeEach(async () => {
  vk = (await createKey({ name: "redaction" })).key;
});
afterEach(() => vi.restoreAllMocks());

/** The response text, the usage row and the /admin/logs page for the call: what a caller and an operator see. */
async function seen(r: Response): Promise<string[]> {
  const row = await usageRow(r.headers.get("x-edgeway-request-id"));
  expect(row).not.toBeNull();
  const logs = await (await admin(`/logs?key_id=${encodeURIComponent(String(row!.key_id))}&limit=1000`)).text();
  return [await r.clone().text(), JSON.stringify(row), logs];
}

const PROVIDERS: { model: string; secret: string; error: (msg: string) => unknown }[] = [
  { model: "gemini-2.0-flash", secret: GEMINI, error: (message) => ({ error: { code: 400, message, status: "INVALID_ARGUMENT" } }) },
  { model: "openai/gpt-4o-mini", secret: OPENAI, error: (message) => ({ error: { message, type: "invalid_request_error" } }) },
  { model: "anthropic/claude-haiku-4-5", secret: ANTHROPIC, error: (message) => ({ type: "error", error: { type: "invalid_request_error", message } }) },
];

describe.each(PROVIDERS)("$model: an upstream error echoing the key", ({ model, secret, error }) => {
  it.each(spellings(secret))("%s: not in the answer, the usage row or /admin/logs", async (_how, spelled) => {
    // Written raw: JSON.stringify would escape the backslashes of a \u-escaped key.
    const body = JSON.stringify(error("MARK")).replace("MARK", `bad key ${spelled}`);
    mockUpstream(() => new Response(body, { status: 400, headers: { "content-type": "application/json" } }));
    const r = await genaiSettled(model, "generateContent", textRequest("hi"), vk);
    expect(r.status).toBe(400);
    expect(((await r.clone().json()) as any).error.message).toMatch(/bad key/);
    for (const text of await seen(r)) expect(leaks(text, secret)).toBe(false);
  });

  it("another provider's key (or the admin token) in this provider's error is taken out too", async () => {
    const others = [GEMINI, OPENAI, ANTHROPIC, "test-admin-token"].filter((s) => s !== secret);
    mockUpstream(() => Response.json(error(`leaked ${others.join(" ")}`), { status: 400 }));
    const r = await genaiSettled(model, "generateContent", textRequest("hi"), vk);
    for (const text of await seen(r)) for (const s of others) expect(leaks(text, s)).toBe(false);
  });

  it("the key inside a base64 credential it echoes (a Basic header), JSON-escaped or not", async () => {
    const echoed = btoa(`api:${secret}`);
    // Past the characters "api:" shares: every window of these is made of the key's bits alone.
    const inner = echoed.slice(6, echoed.replace(/=+$/, "").length - 2);
    mockUpstream(() => Response.json(error(`rejected Authorization: Basic ${echoed}`), { status: 400 }));
    const r = await genaiSettled(model, "generateContent", textRequest("hi"), vk);
    expect(r.status).toBe(400);
    for (const text of await seen(r)) {
      const plain = text.replace(/\\\//g, "/");
      for (let i = 0; i + MIN_RUN <= inner.length; i++) expect(plain).not.toContain(inner.slice(i, i + MIN_RUN));
    }
  });

  it("a non-JSON error body echoing the key", async () => {
    mockUpstream(() => new Response(`<html>forbidden for key=${urlEncoded(secret)}</html>`, { status: 400 }));
    const r = await genaiSettled(model, "generateContent", textRequest("hi"), vk);
    expect(r.status).toBe(400);
    for (const text of await seen(r)) expect(leaks(text, secret)).toBe(false);
  });
});

const geminiChunk = (text: string) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }] });
const STREAMS: { name: string; model: string; secret: string; first: string; error: (msg: string) => string }[] = [
  {
    name: "gemini error event", model: "gemini-2.0-flash", secret: GEMINI,
    first: `data: ${JSON.stringify(geminiChunk("a"))}\r\n\r\n`,
    error: (m) => `data: {"error":{"code":400,"message":"bad key ${m}","status":"INVALID_ARGUMENT"}}\r\n\r\n`,
  },
  {
    name: "gemini garbled event (the JSON parser quotes it)", model: "gemini-2.0-flash", secret: GEMINI,
    first: `data: ${JSON.stringify(geminiChunk("a"))}\r\n\r\n`,
    error: (m) => `data: {${m}\r\n\r\n`,
  },
  {
    name: "openai error event", model: "openai/gpt-4o-mini", secret: OPENAI,
    first: `data: ${JSON.stringify({ id: "c", model: "gpt-4o-mini", choices: [{ index: 0, delta: { content: "a" }, finish_reason: null }] })}\n\n`,
    error: (m) => `data: {"error":{"message":"bad key ${m}","type":"server_error"}}\n\n`,
  },
  {
    name: "anthropic error event", model: "anthropic/claude-haiku-4-5", secret: ANTHROPIC,
    first: [
      `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "m", model: "claude-haiku-4-5", usage: { input_tokens: 1, output_tokens: 0 } } })}\n\n`,
      `event: content_block_start\ndata: ${JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })}\n\n`,
      `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "a" } })}\n\n`,
    ].join(""),
    error: (m) => `event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"bad key ${m}"}}\n\n`,
  },
];

describe.each(STREAMS)("$name after the first byte", ({ model, secret, first, error }) => {
  it.each(spellings(secret))("%s: not in the stream's error event, the usage row or /admin/logs", async (_how, spelled) => {
    mockUpstream(() => sseResponse([first, error(spelled)]));
    const r = await genaiSettled(model, "streamGenerateContent", textRequest("hi"), vk, { query: "?alt=sse" });
    expect(r.status).toBe(200);
    const events = (await readSse(r.clone())) as any[];
    expect(events.at(-1).error).toBeDefined();
    for (const text of await seen(r)) expect(leaks(text, secret)).toBe(false);
  });
});

describe("an answer echoing the key: not in its text, whole or cut across events", () => {
  const textChunk = (text: string, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...extra }] })}\r\n\r\n`;
  const text = (events: any[]) => events.map((e) => e.candidates?.map((c: any) => c.content?.parts?.map((p: any) => p.text ?? "").join("")).join("")).join("");
  const cut = (t: string, size: number) => Array.from({ length: Math.ceil(t.length / size) }, (_, i) => t.slice(i * size, (i + 1) * size));

  it.each([3, 5, 11])("gemini stream: the key in %i-character events (as it is, hex, upper-case hex) never reaches the client", async (size) => {
    for (const spelled of [GEMINI, hex(GEMINI), hex(GEMINI).toUpperCase()]) {
      const pieces = cut(`The key is ${spelled}.`, size);
      mockUpstream(() => sseResponse([...pieces.map((p) => textChunk(p)), textChunk("", { finishReason: "STOP" })]));
      const r = await genaiSettled("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), vk, { query: "?alt=sse" });
      expect(r.status).toBe(200);
      const body = await r.clone().text();
      const events = (await readSse(r)) as any[];
      expect(leaks(body, GEMINI)).toBe(false);
      // At most MIN_HELD - 1 characters of it can go out before the rest is seen to be the key.
      expect(text(events)).toMatch(/^The key is .{0,3}\[redacted\]\.$/);
      vi.restoreAllMocks();
    }
  });

  it("openai stream: the key cut across deltas never reaches the client", async () => {
    const delta = (content: string, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: "c", model: "gpt-4o-mini", choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
    mockUpstream(() => sseResponse([...cut(`echo ${OPENAI} done`, 4).map((p) => delta(p)), delta("", "stop"), "data: [DONE]\n\n"]));
    const r = await genaiSettled("openai/gpt-4o-mini", "streamGenerateContent", textRequest("hi"), vk, { query: "?alt=sse" });
    const events = (await readSse(r.clone())) as any[];
    expect(leaks(await r.text(), OPENAI)).toBe(false);
    expect(text(events)).toMatch(/^echo .{0,3}\[redacted\] done$/);
  });

  it("events that hold no part of a key go out byte for byte as the upstream sent them", async () => {
    const frames = [textChunk("Hello there. "), textChunk("The weather is fine."), textChunk(" Bye.", { finishReason: "STOP" })];
    mockUpstream(() => sseResponse(frames));
    const r = await genaiSettled("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), vk, { query: "?alt=sse" });
    expect(await r.text()).toBe(frames.join(""));
  });

  it("a stream cut after a tail was held: the tail goes out before the error event", async () => {
    mockUpstream(() => sseResponse([textChunk("partial sk-p"), textChunk("roj")], {}, "cut"));
    const r = await genaiSettled("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), vk, { query: "?alt=sse" });
    const events = (await readSse(r)) as any[];
    expect(text(events)).toBe("partial sk-proj");
    expect(events.at(-1).error).toBeDefined();
  });

  it.each([["as it is", GEMINI], ["hex", hex(GEMINI)], ["upper-case hex", hex(GEMINI).toUpperCase()]])("generateContent: the key %s, across two parts, is not in the answer", async (_how, spelled) => {
    const half = Math.floor(spelled.length / 2);
    mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: `k=${spelled.slice(0, half)}` }, { text: `${spelled.slice(half)}!` }] }, finishReason: "STOP", index: 0 }] }));
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("hi"), vk);
    const body = await r.clone().text();
    expect(leaks(body, GEMINI)).toBe(false);
    expect(text([await r.json()])).toBe(`k=${REDACTED}!`);
  });
});
