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

async function videoOf(ai: GoogleGenAI): Promise<{ uri: string; name: string }> {
  let op = await ai.models.generateVideos({ model: "veo-2.0-generate-001", prompt: "x" });
  for (let i = 0; i < 5 && !op.done; i++) op = await ai.operations.getVideosOperation({ operation: op });
  const uri = op.response!.generatedVideos![0]!.video!.uri!;
  return { uri, name: `files/${/files\/([a-z0-9]+):download/.exec(uri)![1]!}` };
}

const predicts = () => gemini.seen.filter((s) => s.url.endsWith(":predictLongRunning")).length;
const generates = () => gemini.seen.filter((s) => s.url.endsWith(":generateContent")).length;

describe("references outside fileData and cachedContent", () => {
  it("a Veo video to extend (instances[].video.uri) must be the key's own generated file", async () => {
    const a = await newKey();
    const b = await newKey();
    const videoA = await videoOf(a.ai);
    const before = predicts();
    // The SDK's shape for extending a video: `video: {uri}` goes upstream as `instances[0].video.uri`.
    await expect(b.ai.models.generateVideos({ model: "veo-2.0-generate-001", prompt: "more", video: { uri: videoA.uri } }))
      .rejects.toMatchObject({ status: 404 });
    // Gemini's own spelling of the URI: the same. (A bare name is no URI: 400.)
    for (const [uri, status] of [[`${PUBLIC_HOST}/v1beta/${videoA.name}:download?alt=media`, 404], [`${PUBLIC_HOST}/v1beta/${videoA.name}`, 404], [videoA.name, 400]] as const) {
      const r = await call(b.key, "POST", "v1beta/models/veo-2.0-generate-001:predictLongRunning", { instances: [{ prompt: "x", video: { uri } }] });
      expect(r.status, uri).toBe(status);
    }
    // An address inside the network is refused like a fileData one.
    const ssrf = await call(b.key, "POST", "v1beta/models/veo-2.0-generate-001:predictLongRunning", { instances: [{ prompt: "x", video: { uri: "http://169.254.169.254/latest" } }] });
    expect(ssrf.status).toBe(400);
    expect((await ssrf.json() as any).error.message).toContain("video.uri");
    expect(predicts()).toBe(before);
    // Its owner extends it.
    const op = await a.ai.models.generateVideos({ model: "veo-2.0-generate-001", prompt: "more", video: { uri: videoA.uri } });
    expect(op.name).toMatch(/operations\//);
    expect(predicts()).toBe(before + 1);
    // Gemini is sent its own URI of the file, not the gateway's.
    expect(JSON.parse(gemini.seen.at(-1)!.body).instances[0].video.uri).toBe(`${PUBLIC_HOST}/v1beta/${videoA.name}:download?alt=media`);
  });

  it("fields naming resources the gateway does not track (file search stores, tuned models, corpora) are refused, naming the field", async () => {
    const a = await newKey();
    const before = generates();
    const cases: [string, Record<string, unknown>][] = [
      ["fileSearchStoreNames", { tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/theirs"] } }] }],
      ["fileSearchStoreNames", { tools: [{ file_search: { file_search_store_names: ["fileSearchStores/theirs"] } }] }],
      ["ragCorpora", { tools: [{ retrieval: { vertexRagStore: { ragCorpora: ["projects/p/locations/l/ragCorpora/c"] } } }] }],
      ["semanticRetriever", { semanticRetriever: { source: "corpora/theirs", query: { parts: [{ text: "?" }] } } }],
    ];
    for (const [field, extra] of cases) {
      const r = await call(a.key, "POST", "v1beta/models/gemini-2.0-flash:generateContent", { contents: [{ role: "user", parts: [{ text: "x" }] }], ...extra });
      expect(r.status, field).toBe(400);
      const e = (await r.json() as any).error;
      expect(e.status).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain(field === "fileSearchStoreNames" ? "fileSearch.fileSearchStoreNames" : field);
    }
    // Through the SDK too, and in a cache's or a batch's requests.
    await expect(a.ai.models.generateContent({ model: "gemini-2.0-flash", contents: "x", config: { tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/s"] } }] } }))
      .rejects.toMatchObject({ status: 400 });
    await expect(a.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: "x", tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/s"] } }] } }))
      .rejects.toMatchObject({ status: 400 });
    await expect(a.ai.batches.create({ model: "gemini-2.0-flash", src: [{ contents: "x", config: { tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/s"] } }] } }] }))
      .rejects.toMatchObject({ status: 400 });
    // A tuned model named in a body.
    const tuned = await call(a.key, "POST", "v1beta/cachedContents", { model: "tunedModels/theirs", contents: [{ role: "user", parts: [{ text: "x" }] }] });
    expect(tuned.status).toBe(400);
    expect(generates()).toBe(before);
    // A function whose parameters happen to be called like those fields is not a reference.
    const fn = { functionDeclarations: [{ name: "f", parameters: { type: "OBJECT", properties: { model: { type: "STRING" }, outputConfig: { type: "OBJECT" }, storageUri: { type: "STRING" } } } }] };
    const ok = await call(a.key, "POST", "v1beta/models/gemini-2.0-flash:generateContent", { contents: [{ role: "user", parts: [{ text: "x" }] }], tools: [fn] });
    expect(ok.status).toBe(200);
  });
});
