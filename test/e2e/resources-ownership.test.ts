/**
 * Every resource is its creator's: two keys prove it both ways (list, get, use, patch, delete, download, an upload
 * URL), teams share only when their keys opt in, and the hostile versions fail the same way a resource that does
 * not exist does. Plus governance on creates and an upstream that redirects.
 */
import { createPartFromUri, createUserContent, GoogleGenAI } from "@google/genai";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { all, gatewayWithGemini, type GeminiMock } from "./gemini-upstream";
import type { Gateway } from "./harness";

let gemini: GeminiMock;
let gw: Gateway;
let setup: Awaited<ReturnType<typeof gatewayWithGemini>>;
const MAX_UPLOAD = 1024 * 1024;

beforeAll(async () => {
  setup = await gatewayWithGemini(MAX_UPLOAD);
  ({ gemini, gw } = setup);
});

afterAll(async () => {
  await setup?.close();
});

const newKey = (fields: Record<string, unknown> = {}) => setup.newKey({ name: "owner", ...fields });

const call = (key: string, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/genai/${pathname}`, {
    method,
    headers: { "x-goog-api-key": key, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });

const generate = (key: string, body: unknown) => call(key, "POST", "v1beta/models/gemini-2.0-flash:generateContent", body);
const withFile = (uri: string, snake = false) => ({
  contents: [{ role: "user", parts: [snake ? { file_data: { file_uri: uri, mime_type: "text/plain" } } : { fileData: { fileUri: uri, mimeType: "text/plain" } }, { text: "?" }] }],
});

async function startUpload(key: string, size = 5) {
  const r = await call(key, "POST", "upload/v1beta/files", { file: { displayName: "x" } }, {
    "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
    "x-goog-upload-header-content-length": String(size), "x-goog-upload-header-content-type": "text/plain",
  });
  return { status: r.status, url: r.headers.get("x-goog-upload-url") };
}

/**
 * A request whose body is never finished: with a Content-Length, none of it is sent (the answer must come from the
 * headers alone); without one, `first` is sent chunked and the body left open. Its own connection, never pooled: a
 * server that answers before reading a body closes the connection after. Resolves with the status.
 */
function refusedPost(url: string, headers: Record<string, string>, first?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", headers, agent: false }, (res) => {
      resolve(res.statusCode!);
      res.resume();
      req.destroy();
    });
    req.on("error", reject);
    if (first !== undefined) req.write(first);
    else req.flushHeaders();
  });
}

async function videoOf(ai: GoogleGenAI): Promise<{ op: string; uri: string; vid: string }> {
  let op = await ai.models.generateVideos({ model: "veo-2.0-generate-001", prompt: "x" });
  for (let i = 0; i < 5 && !op.done; i++) op = await ai.operations.getVideosOperation({ operation: op });
  const uri = op.response!.generatedVideos![0]!.video!.uri!;
  return { op: op.name!, uri, vid: /files\/([a-z0-9]+):download/.exec(uri)![1]! };
}

describe("two keys: neither sees, uses nor changes the other's resources", () => {
  it("files, caches, batches, operations and upload URLs, both ways", async () => {
    const a = await newKey({ name: "A" });
    const b = await newKey({ name: "B" });
    const fileA = await a.ai.files.upload({ file: new Blob(["A's secret\n"], { type: "text/plain" }) });
    const fileB = await b.ai.files.upload({ file: new Blob(["B's secret\n"], { type: "text/plain" }) });
    const cacheA = await a.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: createUserContent("cached"), ttl: "300s" } });
    const batchA = await a.ai.batches.create({ model: "gemini-2.0-flash", src: [{ contents: [{ role: "user", parts: [{ text: "x" }] }] }] });
    const videoA = await videoOf(a.ai);
    const generatesBefore = gemini.seen.filter((s) => s.url.endsWith(":generateContent")).length;

    // Lists: each its own.
    expect((await all(await a.ai.files.list())).map((f) => f.name).sort()).toEqual([fileA.name, `files/${videoA.vid}`].sort());
    expect((await all(await b.ai.files.list())).map((f) => f.name)).toEqual([fileB.name]);
    expect(await all(await b.ai.caches.list())).toEqual([]);
    expect(await all(await b.ai.batches.list())).toEqual([]);

    // Get, use, change, delete another's: 404, exactly as for a name that does not exist.
    const missing = await call(b.key, "GET", "v1beta/files/doesnotexist");
    const stolen = await call(b.key, "GET", `v1beta/${fileA.name}`);
    expect([stolen.status, missing.status]).toEqual([404, 404]);
    expect((await stolen.json() as any).error.message.replace(fileA.name!, "X")).toBe((await missing.json() as any).error.message.replace("files/doesnotexist", "X"));
    await expect(b.ai.files.get({ name: fileA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.files.delete({ name: fileA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(a.ai.files.get({ name: fileB.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.models.generateContent({ model: "gemini-2.0-flash", contents: createUserContent([createPartFromUri(fileA.uri!, "text/plain"), "?"]) }))
      .rejects.toMatchObject({ status: 404 });
    await expect(a.ai.models.generateContent({ model: "gemini-2.0-flash", contents: createUserContent([createPartFromUri(fileB.uri!, "text/plain"), "?"]) }))
      .rejects.toMatchObject({ status: 404 });
    await expect(b.ai.caches.get({ name: cacheA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.caches.update({ name: cacheA.name!, config: { ttl: "1s" } })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.caches.delete({ name: cacheA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.models.generateContent({ model: "gemini-2.0-flash", contents: "x", config: { cachedContent: cacheA.name! } }))
      .rejects.toMatchObject({ status: 404 });
    await expect(b.ai.batches.get({ name: batchA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.batches.cancel({ name: batchA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.batches.delete({ name: batchA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.operations.getVideosOperation({ operation: { name: videoA.op } as never })).rejects.toMatchObject({ status: 404 });
    expect((await call(b.key, "GET", `v1beta/operations/${videoA.op.split("/").pop()}`)).status).toBe(404);
    expect((await fetch(videoA.uri, { headers: { "x-goog-api-key": b.key } })).status).toBe(404);
    expect((await call(b.key, "GET", `download/v1beta/files/${videoA.vid}:download?alt=media`)).status).toBe(404);
    expect((await call(b.key, "GET", `v1beta/files/${videoA.vid}:download?alt=media`)).status).toBe(404);
    // A batch may not read another key's file, nor a request inside it use another's cache; a cache may not hold another's file.
    await expect(b.ai.batches.create({ model: "gemini-2.0-flash", src: fileA.name! })).rejects.toMatchObject({ status: 404 });
    await expect(b.ai.batches.create({ model: "gemini-2.0-flash", src: [{ contents: [{ role: "user", parts: [{ text: "x" }] }], config: { cachedContent: cacheA.name! } }] }))
      .rejects.toMatchObject({ status: 404 });
    await expect(b.ai.caches.create({ model: "gemini-2.0-flash", config: { contents: createUserContent(createPartFromUri(fileA.uri!, "text/plain")) } }))
      .rejects.toMatchObject({ status: 404 });
    // Nor does any other model action: counting tokens, streaming.
    expect((await call(b.key, "POST", "v1beta/models/gemini-2.0-flash:countTokens", { contents: withFile(fileA.uri!).contents })).status).toBe(404);
    expect((await call(b.key, "POST", "v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", { contents: [{ parts: [{ text: "x" }] }], cachedContent: cacheA.name })).status).toBe(404);

    // Nothing of it reached the upstream, and A's things are all still there.
    expect(gemini.seen.filter((s) => s.url.endsWith(":generateContent")).length).toBe(generatesBefore);
    expect(gemini.files.has(fileA.name!) && gemini.caches.has(cacheA.name!) && gemini.batches.has(batchA.name!)).toBe(true);
    expect((await a.ai.files.get({ name: fileA.name! })).name).toBe(fileA.name);

    // An upload URL is its starter's: another key sending bytes to it gets 404, and nothing reaches the upstream.
    const { url } = await startUpload(a.key);
    const chunksBefore = gemini.seen.filter((s) => s.url.includes("upload_id=")).length;
    const hijack = await fetch(url!, { method: "POST", headers: { "x-goog-api-key": b.key, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" }, body: "evil!" });
    expect(hijack.status).toBe(404);
    expect(gemini.seen.filter((s) => s.url.includes("upload_id=")).length).toBe(chunksBefore);
    const own = await fetch(url!, { method: "POST", headers: { "x-goog-api-key": a.key, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" }, body: "mine!" });
    expect(own.headers.get("x-goog-upload-status")).toBe("final");
  });

  it("every spelling of another key's file URI is refused (snake_case, host case, trailing dot, port, bare name, loopback)", async () => {
    const a = await newKey();
    const b = await newKey();
    const file = await a.ai.files.upload({ file: new Blob(["x"], { type: "text/plain" }) });
    const id = file.name!.slice(6);
    const spellings = [
      file.uri!,
      `https://GenerativeLanguage.GoogleAPIs.com/v1beta/files/${id}`,
      `https://generativelanguage.googleapis.com./v1beta/files/${id}`,
      `https://generativelanguage.googleapis.com:443/v1/files/${id}`,
      `https://generativelanguage.googleapis.com/v1beta/files/${id.toUpperCase()}`,
      `https://generativelanguage.googleapis.com/v1beta/files/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`,
    ];
    for (const uri of spellings) {
      expect((await generate(b.key, withFile(uri))).status, uri).toBe(404);
      expect((await generate(b.key, withFile(uri, true))).status, `${uri} (snake_case)`).toBe(404);
    }
    // A bare name or a loopback `http:` URI never gets as far as ownership: the URI filter refuses it for every key,
    // the owner too, so its answer says nothing about whether the file exists.
    for (const uri of [`files/${id}`, `${gemini.url}/v1beta/files/${id}`]) {
      for (const key of [b.key, a.key]) {
        const r = await generate(key, withFile(uri));
        expect(r.status, uri).toBe(400);
        expect(((await r.json()) as any).error.message, uri).toMatch(/fileData.fileUri .* is refused/);
      }
    }
    // Nested where no schema looks (a function response), and in a batch's inline requests.
    const nested = { contents: [{ role: "user", parts: [{ functionResponse: { name: "f", response: { parts: [{ fileData: { fileUri: file.uri } }] } } }] }] };
    expect((await generate(b.key, nested)).status).toBe(404);
    const batch = await call(b.key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", {
      batch: { inputConfig: { requests: { requests: [{ request: withFile(file.uri!) }] } } },
    });
    expect(batch.status).toBe(404);
    // The owner may use it; a public URL that is not a Gemini file passes on.
    expect((await generate(a.key, withFile(file.uri!))).status).toBe(200);
    expect((await generate(b.key, withFile("https://www.youtube.com/watch?v=9hE5-98ZeCg"))).status).toBe(200);
  });
});

describe("teams share when their keys opt in", () => {
  it("resource_scope team: shared with team keys that share too; a key-scoped teammate neither sees nor shares", async () => {
    const team = (await (await gw.admin("/teams", { body: { name: "sharers" } })).json()) as { id: string };
    const t1 = await newKey({ team_id: team.id, resource_scope: "team" });
    const t2 = await newKey({ team_id: team.id, resource_scope: "team" });
    const t3 = await newKey({ team_id: team.id });
    const outsider = await newKey({ resource_scope: "team" });
    const f1 = await t1.ai.files.upload({ file: new Blob(["shared"], { type: "text/plain" }) });
    const f3 = await t3.ai.files.upload({ file: new Blob(["private"], { type: "text/plain" }) });

    expect((await t2.ai.files.get({ name: f1.name! })).name).toBe(f1.name);
    expect((await all(await t2.ai.files.list())).map((f) => f.name)).toEqual([f1.name]);
    expect((await generate(t2.key, withFile(f1.uri!))).status).toBe(200);
    await expect(t3.ai.files.get({ name: f1.name! })).rejects.toMatchObject({ status: 404 });
    await expect(t1.ai.files.get({ name: f3.name! })).rejects.toMatchObject({ status: 404 });
    await expect(outsider.ai.files.get({ name: f1.name! })).rejects.toMatchObject({ status: 404 });
    // A teammate may delete what is shared with it; then it is gone for all.
    await t2.ai.files.delete({ name: f1.name! });
    await expect(t1.ai.files.get({ name: f1.name! })).rejects.toMatchObject({ status: 404 });

    const admin = (await (await gw.admin(`/resources?team_id=${team.id}&kind=file`)).json()) as { resources: any[] };
    expect(admin.resources.map((r) => [r.name, r.key_id, r.shared, r.state])).toEqual([
      [f3.name, t3.id, false, "active"],
      [f1.name, t1.id, true, "deleted"],
    ]);
  });
});

describe("hostile", () => {
  it("a guessed or malformed upload URL is 404, like another key's", async () => {
    const { key } = await newKey();
    const base = `${gw.url}/genai/upload/v1beta/files`;
    for (const id of ["A".repeat(43), "x", "../../v1beta/files", "%00"]) {
      const r = await fetch(`${base}?upload_id=${encodeURIComponent(id)}`, { method: "POST", headers: { "x-goog-api-key": key, "x-goog-upload-command": "query" } });
      expect(r.status).toBe(404);
    }
  });

  it("a refusal answered before its small body is read leaves the connection usable for the client's next request (resource routes, model actions, admin)", async () => {
    const { key } = await newKey();
    const u = new URL(gw.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, body: string, credential = key) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = http.request({ host: u.hostname, port: u.port, path, method, agent, headers: { "x-goog-api-key": credential, authorization: `Bearer ${credential}`, "content-type": "application/json", "content-length": String(body.length) } }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
        });
        req.on("error", reject);
        req.end(body);
      });
    try {
      // Another key's (or no) cache, a body the route never reads, then the next call on the same connection.
      expect(await send("PATCH", "/genai/v1beta/cachedContents/nope", '{"ttl":"1s"}')).toEqual({ status: 404, reused: false });
      expect(await send("POST", "/genai/v1beta/batches/nope:cancel", "{}")).toEqual({ status: 404, reused: true });
      expect(await send("GET", "/genai/v1beta/files", "")).toEqual({ status: 200, reused: true });
      // The same for any early refusal: a model action with an unknown key, the admin API without its token.
      expect(await send("POST", "/genai/v1beta/models/gemini-2.0-flash:generateContent", '{"contents":[]}', "sk-bf-unknown")).toEqual({ status: 401, reused: true });
      expect(await send("POST", "/admin/keys", '{"name":"x"}', "not-the-token")).toEqual({ status: 401, reused: true });
      expect(await send("GET", "/genai/v1beta/files", "")).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });

  it("the fileData URI filter and the depth limit hold on resource routes too: caches, batches, video generation", async () => {
    const { key } = await newKey();
    const metadata = "http://169.254.169.254/latest/meta-data/";
    const posts = () => gemini.seen.filter((s) => s.method === "POST").length;
    const before = posts();
    const refused = async (path: string, body: unknown) => {
      const r = await call(key, "POST", path, body);
      expect(r.status, path).toBe(400);
      return ((await r.json()) as any).error.message as string;
    };
    expect(await refused("v1beta/cachedContents", { model: "models/gemini-2.0-flash", ...withFile(metadata) })).toMatch(/fileUri .* is refused/);
    expect(await refused("v1beta/models/gemini-2.0-flash:batchGenerateContent", { batch: { inputConfig: { requests: { requests: [{ request: withFile(metadata) }] } } } }))
      .toMatch(/fileUri .* is refused/);
    expect(await refused("v1beta/models/veo-2.0-generate-001:predictLongRunning", { instances: [{ prompt: "x", ...withFile(metadata) }] })).toMatch(/fileUri .* is refused/);
    let deep: unknown = { text: "x" };
    for (let i = 0; i < 150; i++) deep = { nested: deep };
    expect(await refused("v1beta/models/veo-2.0-generate-001:predictLongRunning", { instances: [deep] })).toMatch(/nests deeper/);
    expect(await refused("v1beta/cachedContents", { model: "models/gemini-2.0-flash", contents: [{ role: "user", parts: [{ text: "x" }] }], deep })).toMatch(/nests deeper/);
    // Outside the inline requests too: the whole batch body goes upstream.
    const inline = { requests: { requests: [{ request: { contents: [{ role: "user", parts: [{ text: "x" }] }] } }] } };
    expect(await refused("v1beta/models/gemini-2.0-flash:batchGenerateContent", { batch: { inputConfig: inline, metadata: deep } })).toMatch(/nests deeper/);
    expect(await refused("v1beta/models/gemini-2.0-flash:batchGenerateContent", { batch: { inputConfig: inline, extra: withFile(metadata) } })).toMatch(/fileUri .* is refused/);
    expect(posts()).toBe(before);
  });

  it("a huge upload is refused before anything reaches the upstream, however it is sent", async () => {
    const { key } = await newKey();
    const starts = () => gemini.seen.filter((s) => s.url === "/upload/v1beta/files").length;
    const before = starts();
    expect((await startUpload(key, 10 * 1024 ** 3)).status).toBe(413);
    const multipart = await refusedPost(`${gw.url}/genai/upload/v1beta/files`, {
      "x-goog-api-key": key, "x-goog-upload-protocol": "multipart", "content-type": "multipart/related; boundary=b",
      "content-length": String(MAX_UPLOAD + 128 * 1024),
    });
    expect(multipart).toBe(413);
    expect(starts()).toBe(before);

    // Declared small, sent large: cut at the declared size, with or without a Content-Length.
    const { url } = await startUpload(key, 10);
    const headers = { "x-goog-api-key": key, "x-goog-upload-command": "upload", "x-goog-upload-offset": "0" };
    expect(await refusedPost(url!, { ...headers, "content-length": "4096" })).toBe(413);
    // Chunked, with no end in sight: the gateway stops reading at the declared size and answers 413.
    const filesBefore = gemini.files.size;
    expect(await refusedPost(url!, { ...headers, "x-goog-upload-command": "upload, finalize" }, "z".repeat(1024))).toBe(413);
    // The upstream saw no upload finish: no file was made of the bytes that did arrive.
    const session = [...gemini.uploads.values()].at(-1)!;
    expect(session.received).toBeLessThanOrEqual(10);
    expect(gemini.files.size).toBe(filesBefore);
  });

  it("an upstream that redirects: never followed for API calls, the location never shown, the key never sent elsewhere", async () => {
    const a = await newKey();
    const file = await a.ai.files.upload({ file: new Blob(["x"], { type: "text/plain" }) });
    gemini.redirects.set(`/v1beta/${file.name}`, "http://169.254.169.254/latest/meta-data/");
    const r = await call(a.key, "GET", `v1beta/${file.name}`);
    gemini.redirects.delete(`/v1beta/${file.name}`);
    expect(r.status).toBe(502);
    const text = await r.text();
    expect(text).not.toContain("169.254");
    expect(text).not.toContain(gemini.key);

    // A download may follow to the upstream's own storage, not to another origin.
    const video = await videoOf(a.ai);
    const port = new URL(gemini.url).port;
    gemini.redirects.set(`/v1beta/files/${video.vid}:download`, `/storage/${video.vid}`);
    const followed = await fetch(video.uri, { headers: { "x-goog-api-key": a.key } });
    expect([followed.status, (await followed.arrayBuffer()).byteLength]).toEqual([200, 3 * 65536]);
    gemini.redirects.set(`/v1beta/files/${video.vid}:download`, `http://localhost:${port}/storage/${video.vid}`);
    const elsewhere = await fetch(video.uri, { headers: { "x-goog-api-key": a.key } });
    gemini.redirects.delete(`/v1beta/files/${video.vid}:download`);
    expect(elsewhere.status).toBe(502);
    expect(await elsewhere.text()).not.toContain("localhost");
    expect(gemini.seen.filter((s) => s.headers.host?.startsWith("localhost"))).toEqual([]);
  });

  it("an upload URL on another origin is sent the bytes but never the provider key", async () => {
    const a = await newKey();
    gemini.uploadOrigin = `http://localhost:${new URL(gemini.url).port}`;
    try {
      const file = await a.ai.files.upload({ file: new Blob(["elsewhere"], { type: "text/plain" }) });
      expect(file.sizeBytes).toBe("9");
    } finally {
      gemini.uploadOrigin = undefined;
    }
    const chunk = gemini.seen.findLast((s) => s.url.includes("upload_id="))!;
    expect(chunk.headers.host).toBe(`localhost:${new URL(gemini.url).port}`);
    expect(chunk.headers["x-goog-api-key"]).toBeUndefined();
  });
});

describe("governance on resource routes", () => {
  it("non-Gemini models are a clear 400; allow-lists apply to the model of a cache, batch or operation", async () => {
    const { key } = await newKey({ models: ["gemini-2.0-flash"] });
    const batchBody = { batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "x" }] }] } }] } } } };
    for (const p of ["v1beta/models/openai/gpt-4o-mini:batchGenerateContent", "v1beta/openai/gpt-4o-mini:batchGenerateContent", "v1beta/models/openai%2Fgpt-4o-mini:batchGenerateContent"]) {
      const r = await call(key, "POST", p, batchBody);
      expect(r.status, p).toBe(400);
      expect(((await r.json()) as any).error.message).toContain("Gemini models only");
    }
    expect((await call(key, "POST", "v1beta/cachedContents", { model: "models/anthropic/claude-sonnet-4-5", contents: [{ role: "user", parts: [{ text: "x" }] }] })).status).toBe(400);
    for (const p of ["v1beta/models/openai/sora-2:predictLongRunning", "v1beta/openai/sora-2:predictLongRunning"]) {
      const r = await call(key, "POST", p, { instances: [{ prompt: "x" }] });
      expect(r.status, p).toBe(400);
      expect(((await r.json()) as any).error).toMatchObject({ status: "INVALID_ARGUMENT", message: expect.stringContaining("Gemini models only") });
    }
    const poll = await call(key, "GET", "v1beta/models/openai/sora-2/operations/abc");
    expect([poll.status, ((await poll.json()) as any).error.message]).toEqual([400, expect.stringContaining("Gemini models only")]);
    expect((await call(key, "POST", "v1beta/models/gemini-2.5-pro:batchGenerateContent", batchBody)).status).toBe(403);
    expect((await call(key, "POST", "v1beta/cachedContents", { model: "models/gemini-2.5-pro", contents: [{ role: "user", parts: [{ text: "x" }] }] })).status).toBe(403);
    expect((await call(key, "POST", "v1beta/models/veo-2.0-generate-001:predictLongRunning", { instances: [{ prompt: "x" }] })).status).toBe(403);
    expect((await call(key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", batchBody)).status).toBe(200);
  });

  it("a create counts one request against rpm; refusals come before the body is read", async () => {
    const { key, id } = await newKey({ rate_limit: { rpm: 1 } });
    const body = { model: "models/gemini-2.0-flash", contents: [{ role: "user", parts: [{ text: "x" }] }] };
    expect((await call(key, "POST", "v1beta/cachedContents", body)).status).toBe(200);
    const refused = await call(key, "POST", "v1beta/cachedContents", body);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    // Counted, not logged as a row.
    await gw.flushUsage();
    await new Promise((r) => setTimeout(r, 50));
    await gw.flushUsage();
    const db = await gw.mf.getD1Database("DB");
    const refusals = await db.prepare("SELECT sum(count) AS n FROM refusals WHERE key_id = ? AND status = 429").bind(id).first<{ n: number }>();
    expect(refusals!.n).toBe(1);
  });

  it("a budget holds a batch's worst case: a batch that could pass the budget is refused", async () => {
    const { key } = await newKey({ budget: { max_usd: 0.001 } });
    // One request's worst case is its output cap (8,192 tokens for gemini-2.0-flash) at $0.40/1M, halved: $0.0016.
    const r = await call(key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", {
      batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "x" }] }] } }] } } },
    });
    expect(r.status).toBe(402);
    const small = await call(key, "POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", {
      batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "x" }] }], generationConfig: { maxOutputTokens: 100 } } }] } } },
    });
    expect(small.status).toBe(200);
  });
});
