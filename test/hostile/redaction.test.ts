/**
 * A hostile (or careless) upstream echoes the gateway's provider key back in an error: JSON-escaped, upper-cased,
 * URL-encoded, one character short. None of those spellings may reach the caller (error answers, stream error
 * events) or the usage log (the row's error column, /admin/logs).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MIN_RUN, REDACTED, redact } from "../../src/gemini/redact";
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
  const s = secret.toLowerCase();
  const run = Math.min(MIN_RUN, s.length);
  for (let j = 0; j + run <= s.length; j++) if (t.includes(s.slice(j, j + run))) return true;
  return false;
}

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

  it("text with no secret, broken escapes or non-ASCII comes back unchanged", () => {
    for (const t of ["", "%", "%zz \\u12", "naïve ☃ 𝄞 %E2%98%83 \\u2603", "no key here"]) expect(redact(t, [key])).toBe(t);
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
