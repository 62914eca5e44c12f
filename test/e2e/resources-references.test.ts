/**
 * Issue 25, "Ownership": every request a batch will run is checked like an inline one (a JSONL input file is read
 * as it is uploaded), references outside `fileData` and `cachedContent` (a Veo video to extend, tools naming
 * stores, tuned models) are checked or refused, and a vanished file or cache no longer breaks its owner's list.
 * The real @google/genai SDK against the gateway, in front of a loopback Gemini speaking its wire format.
 */
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { all, gatewayWithGemini, PUBLIC_HOST, type GeminiMock } from "./gemini-upstream";
import type { Gateway } from "./harness";

let gemini: GeminiMock;
let gw: Gateway;
let setup: Awaited<ReturnType<typeof gatewayWithGemini>>;
const MAX_UPLOAD = 64 * 1024 * 1024;

beforeAll(async () => {
  setup = await gatewayWithGemini(MAX_UPLOAD);
  ({ gemini, gw } = setup);
});

afterAll(async () => {
  await setup?.close();
});

const newKey = (fields: Record<string, unknown> = {}) => setup.newKey({ name: "refs", ...fields });

const call = (key: string, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/genai/${pathname}`, {
    method,
    headers: { "x-goog-api-key": key, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });

const upstreamGets = (name: string) => gemini.seen.filter((s) => s.method === "GET" && s.url.split("?")[0] === `/v1beta/${name}`).length;
const text = (s: string) => new Blob([s], { type: "text/plain" });

describe("a vanished file or cache (Gemini's 403) is marked gone and skipped; the rest of the list is served", () => {
  it("files and caches expired or deleted upstream leave the owner's lists, which keep working", async () => {
    const a = await newKey();
    const files = [];
    for (const s of ["one\n", "two\n", "three\n"]) files.push(await a.ai.files.upload({ file: text(s) }));
    const caches = [];
    for (const c of ["x", "y"]) caches.push(await a.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: c, ttl: "300s" } }));
    // Gemini forgets one of each (expiry, or deleted with the project's key elsewhere): it answers 403 for them.
    gemini.files.delete(files[1]!.name!);
    gemini.caches.delete(caches[0]!.name!);

    expect((await all(await a.ai.files.list())).map((f) => f.name).sort()).toEqual([files[0]!.name, files[2]!.name].sort());
    expect((await all(await a.ai.caches.list())).map((c) => c.name)).toEqual([caches[1]!.name]);
    // Marked gone: later lists no longer ask the upstream about them, and a get is a 404 like any unknown name.
    const asked = upstreamGets(files[1]!.name!);
    expect((await all(await a.ai.files.list())).length).toBe(2);
    expect(upstreamGets(files[1]!.name!)).toBe(asked);
    expect((await call(a.key, "GET", `v1beta/${files[1]!.name}`)).status).toBe(404);
    expect((await call(a.key, "GET", `v1beta/${caches[0]!.name}`)).status).toBe(404);
  });

  it("a 403 refusing the credential itself (API_KEY_INVALID) fails the list and marks nothing gone", async () => {
    const a = await newKey();
    const f = await a.ai.files.upload({ file: text("kept\n") });
    const c = await a.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: "kept", ttl: "300s" } });
    gemini.refuseKey = { code: 403, status: "PERMISSION_DENIED", message: "API key expired. Please renew the API key.", reason: "API_KEY_INVALID" };
    try {
      const r = await call(a.key, "GET", "v1beta/files");
      expect(r.status).toBe(403);
      expect((await r.json() as any).error.status).toBe("PERMISSION_DENIED");
      expect((await call(a.key, "GET", "v1beta/cachedContents")).status).toBe(403);
      expect((await call(a.key, "GET", `v1beta/${f.name}`)).status).toBe(403);
    } finally {
      gemini.refuseKey = undefined;
    }
    expect((await all(await a.ai.files.list())).map((x) => x.name)).toEqual([f.name]);
    expect((await all(await a.ai.caches.list())).map((x) => x.name)).toEqual([c.name]);
  });
});
