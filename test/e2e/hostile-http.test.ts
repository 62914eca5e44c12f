/**
 * Hostile requests over a real socket, written byte for byte (no client normalising them first): raw `..` and
 * encoded separators in paths, Latin-1 and oversized header values, duplicated credential headers. None is a 5xx,
 * and every error is a Gemini-style body.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

let gw: Gateway;
let key: string;
beforeAll(async () => {
  gw = await startGateway();
  key = (await gw.createKey({ name: "hostile-http" })).key;
});
afterAll(async () => {
  await gw?.stop();
});

/** Sends `head` (request line and headers, `\r\n`-separated, as given) and a body; resolves with status and body. */
function raw(head: string[], body = ""): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", reject);
    s.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const [headers, ...rest] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers ?? "")?.[1]);
      let payload = rest.join("\r\n\r\n");
      // A chunked answer: join its chunks.
      if (/transfer-encoding: chunked/i.test(headers ?? "")) {
        let out = "";
        for (let i = 0; i < payload.length; ) {
          const nl = payload.indexOf("\r\n", i);
          const n = parseInt(payload.slice(i, nl), 16);
          if (!n) break;
          out += payload.slice(nl + 2, nl + 2 + n);
          i = nl + 2 + n + 2;
        }
        payload = out;
      }
      resolve({ status, headers: headers ?? "", body: payload });
    });
    const bytes = Buffer.from(`${[...head, `host: ${hostname}:${port}`, "connection: close", `content-length: ${Buffer.byteLength(body, "latin1")}`].join("\r\n")}\r\n\r\n`, "latin1");
    s.end(Buffer.concat([bytes, Buffer.from(body, "latin1")]));
  });
}

const BODY = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });

function expectSafe(r: { status: number; body: string }) {
  expect(r.status, r.body.slice(0, 300)).toBeGreaterThanOrEqual(200);
  expect(r.status, r.body.slice(0, 300)).toBeLessThan(500);
  if (r.status >= 400) {
    const e = JSON.parse(r.body) as { error: { code: number; message: string; status: string } };
    expect(e.error.code).toBe(r.status);
    expect(e.error.status).toMatch(/^[A-Z_]+$/);
  }
}

describe("raw requests", () => {
  it.each([
    "/genai/v1beta/models/mock/../../../admin/keys",
    "/genai/v1beta/models/mock/echo/../../../../admin/keys:generateContent",
    "/genai/v1beta/models/mock%2F..%2F..%2Fadmin%2Fkeys:generateContent",
    "/genai/v1beta/models/..%2f..%2fadmin:generateContent",
    "/genai/v1beta/models/mock/./echo:generateContent",
    "/genai/v1beta/models/mock%5C..%5Cecho:generateContent",
    "/genai//v1beta//models//mock//echo:generateContent",
    "/genai/v1beta/models/mock/echo:generateContent?key=%ZZ&alt=%00",
    `/genai/v1beta/models/${"m".repeat(8000)}:generateContent`,
  ])("POST %s", async (path) => {
    expectSafe(await raw([`POST ${path} HTTP/1.1`, "content-type: application/json", `x-goog-api-key: ${key}`], BODY));
  });

  it("a Latin-1 byte in the credential: 401, Gemini-style", async () => {
    const r = await raw(["POST /genai/v1beta/models/mock/echo:generateContent HTTP/1.1", "content-type: application/json", `x-goog-api-key: ${key}\xe9`], BODY);
    expect(r.status).toBe(401);
    expectSafe(r);
  });

  it("the credential header twice: refused (401), not split into two keys", async () => {
    const r = await raw(["POST /genai/v1beta/models/mock/echo:generateContent HTTP/1.1", "content-type: application/json", `x-goog-api-key: ${key}`, `x-goog-api-key: ${key}`], BODY);
    expect(r.status).toBe(401);
    expectSafe(r);
  });

  it("a 16 KB credential header: 401, Gemini-style", async () => {
    const r = await raw(["POST /genai/v1beta/models/mock/echo:generateContent HTTP/1.1", "content-type: application/json", `x-goog-api-key: sk-bf-${"a".repeat(16 * 1024)}`], BODY);
    expect(r.status).toBe(401);
    expectSafe(r);
  });

  it("a 100k-deep body over the socket: 400, Gemini-style", async () => {
    const deep = `{"contents":[{"parts":[{"text":"hi"}]}],"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const r = await raw(["POST /genai/v1beta/models/mock/echo:generateContent HTTP/1.1", "content-type: application/json", `x-goog-api-key: ${key}`], deep);
    expect(r.status).toBe(400);
    expectSafe(r);
  });
});
