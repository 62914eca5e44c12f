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

const jsonl = (...lines: unknown[]) => lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n";
const line = (request: Record<string, unknown>, key = "r") => ({ key, request: { contents: [{ role: "user", parts: [{ text: "x" }] }], ...request } });
const batchCreates = () => gemini.seen.filter((s) => /:(batchGenerateContent|asyncBatchEmbedContent)$/.test(s.url)).length;
const fileBatch = (key: string, input: Record<string, unknown>, model = "gemini-2.0-flash", action = "batchGenerateContent") =>
  call(key, "POST", `v1beta/models/${model}:${action}`, { batch: { displayName: "b", inputConfig: input } });

/** Uploads `body` through the gateway's resumable protocol in the given chunk sizes, as an SDK does. */
async function uploadInChunks(key: string, body: Buffer, sizes: number[]): Promise<string> {
  const start = await call(key, "POST", "upload/v1beta/files", { file: { displayName: "in.jsonl", mimeType: "jsonl" } }, {
    "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
    "x-goog-upload-header-content-length": String(body.length), "x-goog-upload-header-content-type": "jsonl",
  });
  const url = start.headers.get("x-goog-upload-url")!;
  let offset = 0;
  let answer: any;
  for (const [i, size] of sizes.entries()) {
    const last = i === sizes.length - 1;
    const r = await fetch(url, {
      method: "POST",
      headers: { "x-goog-api-key": key, "x-goog-upload-command": last ? "upload, finalize" : "upload", "x-goog-upload-offset": String(offset) },
      body: body.subarray(offset, last ? body.length : offset + size),
    });
    expect(r.status).toBe(200);
    offset += last ? body.length - offset : size;
    if (last) answer = await r.json();
  }
  return answer.file.name;
}

describe("a batch's JSONL input file is checked like inline requests (its lines read as it is uploaded)", () => {
  let a: Awaited<ReturnType<typeof newKey>>;
  let fileA: { name?: string; uri?: string };
  let cacheA: { name?: string };
  beforeAll(async () => {
    a = await newKey({ name: "A" });
    fileA = await a.ai.files.upload({ file: text("A's secret\n") });
    cacheA = await a.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: "A's cached", ttl: "300s" } });
  });

  it("lines naming another key's cache or file, or an address inside the network, are refused; nothing reaches Gemini", async () => {
    const b = await newKey({ name: "B" });
    const before = batchCreates();
    const cases: [string, number, string][] = [
      [jsonl(line({ contents: [{ parts: [{ text: "hi" }] }] }), line({ cachedContent: cacheA.name })), 404, "not found"],
      [jsonl(line({ contents: [{ parts: [{ fileData: { fileUri: fileA.uri, mimeType: "text/plain" } }] }] })), 404, "not found"],
      [jsonl(line({ contents: [{ parts: [{ file_data: { file_uri: `${PUBLIC_HOST}/v1beta/${fileA.name}` } }] }] })), 404, "not found"],
      [jsonl(line({ contents: [{ parts: [{ fileData: { fileUri: "http://169.254.169.254/latest/meta-data" } }] }] })), 400, "is refused"],
      [jsonl(line({ tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/theirs"] } }] })), 400, "fileSearchStoreNames"],
      // Field names spelled with escapes, the cache named bare.
      [`{"key":"r","request":{"contents":[{"parts":[{"text":"x"}]}],"cached\\u0043ontent":"${cacheA.name!.split("/")[1]}"}}\n`, 404, "not found"],
      [`{"key":"r","request":{"contents":[{"parts":[{"\\u0066ileData":{"\\u0066ileUri":"${fileA.uri}"}}]}]}}\n`, 404, "not found"],
    ];
    for (const [content, status, words] of cases) {
      const f = await b.ai.files.upload({ file: new Blob([content], { type: "jsonl" }), config: { mimeType: "jsonl" } });
      const r = await fileBatch(b.key, { fileName: f.name });
      expect(r.status, content.slice(0, 120)).toBe(status);
      const e = (await r.json() as any).error;
      expect(e.message).toContain(words);
      // The SDK's spelling for embeddings (file_name) is read the same.
      expect((await fileBatch(b.key, { file_name: f.name }, "gemini-embedding-001", "asyncBatchEmbedContent")).status).toBe(status);
    }
    await expect(b.ai.batches.create({ model: "gemini-2.0-flash", src: (await b.ai.files.upload({ file: new Blob([jsonl(line({ cachedContent: cacheA.name }))], { type: "jsonl" }) })).name! }))
      .rejects.toMatchObject({ status: 404 });
    expect(batchCreates()).toBe(before);
    // The refused create left its usage row, as every call does.
    const refused = await fileBatch(b.key, { fileName: (await b.ai.files.upload({ file: new Blob([jsonl(line({ cachedContent: cacheA.name }))], { type: "jsonl" }) })).name });
    const row = await gw.usageRow(refused.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ action: "batches.create", status: 404 });
  });

  it("the owner's own file and cache in its lines pass, and the batch goes upstream", async () => {
    const before = batchCreates();
    const content = jsonl(line({ cachedContent: cacheA.name }, "1"), line({ contents: [{ parts: [{ fileData: { fileUri: fileA.uri } }, { text: "?" }] }] }, "2"), line({}, "3"));
    const f = await a.ai.files.upload({ file: new Blob([content], { type: "jsonl" }), config: { mimeType: "jsonl" } });
    const batch = await a.ai.batches.create({ model: "gemini-2.0-flash", src: f.name! });
    expect(batch.name).toMatch(/^batches\//);
    expect(batchCreates()).toBe(before + 1);
  });

  it("a line's own model must be the batch's (inline requests too)", async () => {
    const other = jsonl(line({ model: "models/gemini-2.5-pro" }));
    const f = await a.ai.files.upload({ file: new Blob([other], { type: "jsonl" }) });
    const r = await fileBatch(a.key, { fileName: f.name });
    expect(r.status).toBe(400);
    expect((await r.json() as any).error.message).toContain("gemini-2.5-pro");
    const same = await a.ai.files.upload({ file: new Blob([jsonl(line({ model: "models/gemini-2.0-flash" }))], { type: "jsonl" }) });
    expect((await fileBatch(a.key, { fileName: same.name })).status).toBe(200);
    // Inline, as the SDK sends a request's own model.
    await expect(a.ai.batches.create({ model: "gemini-2.0-flash", src: [{ model: "gemini-2.5-pro", contents: "x" }] })).rejects.toMatchObject({ status: 400 });
    expect((await a.ai.batches.create({ model: "gemini-2.0-flash", src: [{ model: "gemini-2.0-flash", contents: "x" }] })).name).toMatch(/^batches\//);
  });

  it("an input spelled twice is refused", async () => {
    const b = await newKey({ name: "B2" });
    const mine = await b.ai.files.upload({ file: new Blob([jsonl(line({}))], { type: "jsonl" }) });
    const before = batchCreates();
    for (const input of [{ fileName: mine.name, file_name: fileA.name }, { file_name: mine.name, fileName: mine.name }, { fileName: mine.name, requests: { requests: [{ request: line({}).request }] } }]) {
      const r = await fileBatch(b.key, input);
      expect(r.status).toBe(400);
      expect((await r.json() as any).error.message).toContain("twice");
    }
    const both = await call(b.key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", { batch: { inputConfig: { fileName: mine.name }, input_config: { file_name: fileA.name } } });
    expect(both.status).toBe(400);
    expect(batchCreates()).toBe(before);
  });

  it("a line split across resumable chunks (inside a field name, inside a UTF-8 character) is still read", async () => {
    const b = await newKey({ name: "B3" });
    const pad = jsonl(line({ contents: [{ parts: [{ text: "é".repeat(100) }] }] }));
    const bad = JSON.stringify(line({ contents: [{ parts: [{ text: "ü" }] }], cachedContent: cacheA.name }));
    const body = Buffer.from(pad + bad + "\n" + pad);
    const cut = Buffer.byteLength(pad) + Buffer.from(bad).indexOf("cachedCon") + 6;
    const before = batchCreates();
    for (const sizes of [[cut, 0], [Buffer.byteLength(pad) + 3, 10, 7, 0], [Buffer.from(pad + bad).indexOf("ü") + 1, 0]]) {
      const name = await uploadInChunks(b.key, body, sizes.slice(0, -1).concat([0]));
      expect((await fileBatch(b.key, { fileName: name })).status, String(sizes)).toBe(404);
    }
    // The SDK itself: a file over 8 MiB goes in two chunks, the offending line across their boundary.
    const filler = jsonl(line({ contents: [{ parts: [{ text: "y".repeat(1000) }] }] }));
    const head = filler.repeat(Math.ceil((8 * 1024 * 1024 - 200) / filler.length)).slice(0, 8 * 1024 * 1024 - 60);
    const sdkBody = head.slice(0, head.lastIndexOf("\n") + 1) + jsonl(line({ cachedContent: cacheA.name })) + filler;
    expect(sdkBody.length).toBeGreaterThan(8 * 1024 * 1024);
    const f = await b.ai.files.upload({ file: new Blob([sdkBody], { type: "jsonl" }) });
    expect((await fileBatch(b.key, { fileName: f.name })).status).toBe(404);
    // And the same file without the stolen cache is fine.
    const clean = await b.ai.files.upload({ file: new Blob([head.slice(0, head.lastIndexOf("\n") + 1) + filler + filler], { type: "jsonl" }) });
    expect((await fileBatch(b.key, { fileName: clean.name })).status).toBe(200);
    expect(batchCreates()).toBe(before + 1);
  });

  it("files that cannot be checked are refused, saying why: too long a line naming a field, not JSON, uploaded before scanning", async () => {
    const b = await newKey({ name: "B4" });
    const big = "A".repeat(1024 * 1024 + 10);
    const cases: [string, string][] = [
      [jsonl(line({ cachedContent: cacheA.name, contents: [{ parts: [{ inlineData: { mimeType: "image/png", data: big } }] }] })), "longer than"],
      [`{key: "r", request: {cachedContent: "${cacheA.name}"}}\n`, "not JSON"],
    ];
    for (const [content, words] of cases) {
      const f = await b.ai.files.upload({ file: new Blob([content], { type: "jsonl" }) });
      const r = await fileBatch(b.key, { fileName: f.name });
      expect(r.status).toBe(400);
      const e = (await r.json() as any).error;
      expect(e.status).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain(words);
    }
    // A long line naming nothing (inline data, no field the gateway checks) is fine.
    const long = await b.ai.files.upload({ file: new Blob([jsonl(line({ contents: [{ parts: [{ inlineData: { mimeType: "image/png", data: big } }] }] }))], { type: "jsonl" }) });
    expect((await fileBatch(b.key, { fileName: long.name })).status).toBe(200);
    // A file recorded before uploads were read has no record of its lines: upload it again.
    const old = await b.ai.files.upload({ file: new Blob([jsonl(line({}))], { type: "jsonl" }) });
    await (await gw.mf.getD1Database("DB")).prepare("UPDATE resources SET meta = NULL WHERE name = ?").bind(old.name).run();
    const r = await fileBatch(b.key, { fileName: old.name });
    expect(r.status).toBe(400);
    expect((await r.json() as any).error.message).toContain("upload it again");
  });
});

describe("a refused batch holds nothing", () => {
  it("refusals for what a file's or inline requests' lines name leave the key's budget whole", async () => {
    const owner = await newKey();
    const theirs = await owner.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: "x", ttl: "300s" } });
    // One one-line file batch's worst case (8,192 output tokens at $0.40/1M, halved: about $0.0016) fits; two do not.
    const b = await newKey({ budget: { max_usd: 0.0025 } });
    const stolen = await b.ai.files.upload({ file: new Blob([jsonl(line({ cachedContent: theirs.name }))], { type: "jsonl" }) });
    const ssrf = await b.ai.files.upload({ file: new Blob([jsonl(line({ contents: [{ parts: [{ fileData: { fileUri: "http://10.0.0.1/" } }] }] }))], { type: "jsonl" }) });
    const model = await b.ai.files.upload({ file: new Blob([jsonl(line({ model: "gemini-2.5-pro" }))], { type: "jsonl" }) });
    for (let i = 0; i < 3; i++) {
      expect((await fileBatch(b.key, { fileName: stolen.name })).status).toBe(404);
      expect((await fileBatch(b.key, { fileName: ssrf.name })).status).toBe(400);
      expect((await fileBatch(b.key, { fileName: model.name })).status).toBe(400);
      expect((await call(b.key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", { batch: { inputConfig: { requests: { requests: [{ request: { ...line({}).request, model: "models/gemini-2.5-pro" } }] } } } })).status).toBe(400);
    }
    const fine = await b.ai.files.upload({ file: new Blob([jsonl(line({}))], { type: "jsonl" }) });
    expect((await fileBatch(b.key, { fileName: fine.name })).status).toBe(200);
    // The budget is real: a second one no longer fits beside the first's hold.
    expect((await fileBatch(b.key, { fileName: fine.name })).status).toBe(402);
  });
});
