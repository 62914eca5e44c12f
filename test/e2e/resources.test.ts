/**
 * The whole Gemini API through the base URL: the real @google/genai SDK, pointed at the gateway, uploads files,
 * uses them, caches context, runs batches and generates videos against a loopback Gemini (test/e2e/gemini-upstream.ts).
 */
import { createPartFromUri, createUserContent } from "@google/genai";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { all, gatewayWithGemini, PUBLIC_HOST, type GeminiMock } from "./gemini-upstream";
import type { Gateway } from "./harness";

let gemini: GeminiMock;
let gw: Gateway;
let setup: Awaited<ReturnType<typeof gatewayWithGemini>>;
const MAX_UPLOAD = 12 * 1024 * 1024;

beforeAll(async () => {
  setup = await gatewayWithGemini(MAX_UPLOAD);
  ({ gemini, gw } = setup);
});

afterAll(async () => {
  await setup?.close();
});

const newKey = (fields: Record<string, unknown> = {}) => setup.newKey({ name: "resources", ...fields });

/** The key's usage rows of one action, oldest first, once the buffer has written them. */
async function rows(keyId: string, action: string): Promise<Record<string, any>[]> {
  const db = await gw.mf.getD1Database("DB");
  await new Promise((r) => setTimeout(r, 50));
  await gw.flushUsage();
  const { results } = await db.prepare("SELECT * FROM usage WHERE key_id = ? AND action = ? ORDER BY ts").bind(keyId, action).all<Record<string, any>>();
  return results;
}

const finished = (s: string | undefined) => ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"].includes(s ?? "");

describe("files", () => {
  it("upload → generate with the file → list → get → delete, as the SDK does them", async () => {
    const { ai, id } = await newKey();
    const file = await ai.files.upload({ file: new Blob(["hello file\n"], { type: "text/plain" }), config: { displayName: "notes" } });
    expect(file.name).toMatch(/^files\/[a-z0-9]+$/);
    // The file's URI is Gemini's own: it is what a generate request names, and Gemini resolves it.
    expect(file.uri).toBe(`${PUBLIC_HOST}/v1beta/${file.name}`);
    expect(file.displayName).toBe("notes");

    const r = await ai.models.generateContent({
      model: "gemini-2.0-flash",
      contents: createUserContent([createPartFromUri(file.uri!, file.mimeType!), "What is in it?"]),
    });
    expect(r.text).toBe("seen 1 file(s)");

    expect((await all(await ai.files.list())).map((f) => f.name)).toEqual([file.name]);
    expect((await ai.files.get({ name: file.name! })).sizeBytes).toBe("11");
    await ai.files.delete({ name: file.name! });
    await expect(ai.files.get({ name: file.name! })).rejects.toMatchObject({ status: 404 });
    expect(await all(await ai.files.list())).toEqual([]);
    expect(gemini.files.has(file.name!)).toBe(false);

    // One row per call, named for what it did.
    expect((await rows(id, "files.upload")).map((x) => x.status)).toEqual([200]);
    expect((await rows(id, "files.uploadChunk")).map((x) => x.status)).toEqual([200]);
    expect((await rows(id, "files.get")).map((x) => x.status)).toEqual([200, 404]);
    expect((await rows(id, "files.delete"))[0]).toMatchObject({ status: 200, provider: null });
    // The provider key went upstream only in its header, never in a URL.
    expect(gemini.seen.every((s) => !s.url.includes(gemini.key))).toBe(true);
  });

  it("a resumable upload answers the gateway's own upload URL, never the provider's", async () => {
    const { key } = await newKey();
    const start = await fetch(`${gw.url}/genai/upload/v1beta/files`, {
      method: "POST",
      headers: {
        "x-goog-api-key": key, "content-type": "application/json",
        "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
        "x-goog-upload-header-content-length": "5", "x-goog-upload-header-content-type": "text/plain",
      },
      body: JSON.stringify({ file: { displayName: "five" } }),
    });
    expect(start.status).toBe(200);
    const url = start.headers.get("x-goog-upload-url")!;
    expect(url).toMatch(new RegExp(`^${gw.url}/genai/upload/v1beta/files\\?upload_id=[A-Za-z0-9]{43}&upload_protocol=resumable$`));
    const sessions = [...gemini.uploads.keys()];
    for (const s of sessions) expect(url).not.toContain(s);
    for (const [, v] of start.headers) expect(v).not.toContain(gemini.url);
    expect(start.headers.get("x-goog-upload-control-url")).toBeNull();

    // The chunk protocol: a wrong offset is refused; query says what arrived; upload, finalize ends it.
    const put = (headers: Record<string, string>, body?: string) =>
      fetch(url, { method: "POST", headers: { "x-goog-api-key": key, ...headers }, body });
    expect((await put({ "x-goog-upload-command": "upload", "x-goog-upload-offset": "3" }, "hel")).status).toBe(400);
    const first = await put({ "x-goog-upload-command": "upload", "x-goog-upload-offset": "0" }, "hel");
    expect(first.headers.get("x-goog-upload-status")).toBe("active");
    const q = await put({ "x-goog-upload-command": "query" });
    expect(q.headers.get("x-goog-upload-size-received")).toBe("3");
    const last = await put({ "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "3" }, "lo");
    expect(last.headers.get("x-goog-upload-status")).toBe("final");
    const { file } = (await last.json()) as { file: { name: string; sizeBytes: string } };
    expect(file.sizeBytes).toBe("5");
    // Finished: the URL works no more.
    expect((await put({ "x-goog-upload-command": "query" })).status).toBe(404);
  });

  it("a file larger than one SDK chunk (8 MiB) goes up in chunks at the right offsets, streamed", async () => {
    const { ai, id } = await newKey();
    const size = 9 * 1024 * 1024 + 123;
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(size).fill(10)], { type: "application/octet-stream" }) });
    expect(file.sizeBytes).toBe(String(size));
    const chunks = gemini.seen.filter((s) => s.url.startsWith("/upload/v1beta/files?upload_id=") && s.bytes > 0).slice(-2);
    expect(chunks.map((c) => [c.headers["x-goog-upload-command"], c.headers["x-goog-upload-offset"], c.bytes])).toEqual([
      ["upload", "0", 8 * 1024 * 1024],
      ["upload, finalize", String(8 * 1024 * 1024), size - 8 * 1024 * 1024],
    ]);
    const admin = (await (await gw.admin(`/resources?key_id=${id}&kind=file`)).json()) as { resources: any[] };
    expect(admin.resources).toMatchObject([{ name: file.name, key_id: id, kind: "file", size_bytes: size, state: "active" }]);
    expect((await rows(id, "files.uploadChunk")).length).toBe(2);
  });

  it("multipart upload in one request", async () => {
    const { key, ai } = await newKey();
    const boundary = "edgeway-boundary";
    const body =
      `--${boundary}\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ file: { displayName: "mp", mimeType: "text/plain" } })}\r\n` +
      `--${boundary}\r\ncontent-type: text/plain\r\n\r\nmultipart bytes\r\n--${boundary}--\r\n`;
    const r = await fetch(`${gw.url}/genai/upload/v1beta/files?uploadType=multipart`, {
      method: "POST",
      headers: { "x-goog-api-key": key, "x-goog-upload-protocol": "multipart", "content-type": `multipart/related; boundary=${boundary}` },
      body,
    });
    expect(r.status).toBe(200);
    const { file } = (await r.json()) as { file: { name: string; sizeBytes: string; displayName: string } };
    expect(file).toMatchObject({ displayName: "mp", sizeBytes: "15" });
    expect((await all(await ai.files.list())).map((f) => f.name)).toEqual([file.name]);
  });

  it("lists page by nextPageToken over the key's own files only", async () => {
    const { ai } = await newKey();
    const names: string[] = [];
    for (let i = 0; i < 5; i++) names.push((await ai.files.upload({ file: new Blob([`f${i}`], { type: "text/plain" }) })).name!);
    const pager = await ai.files.list({ config: { pageSize: 2 } });
    expect(pager.page.map((f) => f.name)).toEqual(names.slice(0, 2));
    expect((await all(pager)).map((f) => f.name)).toEqual(names);
  });
});

describe("context caches", () => {
  it("create → generate with cachedContent → patch TTL → list → delete", async () => {
    const { ai, id } = await newKey();
    const file = await ai.files.upload({ file: new Blob(["a long document\n"], { type: "text/plain" }) });
    const cache = await ai.caches.create({
      model: "gemini-2.0-flash",
      config: { contents: createUserContent(createPartFromUri(file.uri!, file.mimeType!)), systemInstruction: "Answer from the document.", ttl: "300s" },
    });
    expect(cache.name).toMatch(/^cachedContents\//);
    expect(cache.model).toBe("models/gemini-2.0-flash");
    // The model reached the upstream as Gemini's own name.
    expect(JSON.parse(gemini.seen.findLast((s) => s.url === "/v1beta/cachedContents")!.body).model).toBe("models/gemini-2.0-flash");

    const r = await ai.models.generateContent({ model: "gemini-2.0-flash", contents: "Summarise", config: { cachedContent: cache.name } });
    expect(r.text).toBe("seen 0 file(s) and a cache");

    const patched = await ai.caches.update({ name: cache.name!, config: { ttl: "7200s" } });
    expect(Date.parse(patched.expireTime!)).toBeGreaterThan(Date.parse(cache.expireTime!));
    const patch = gemini.seen.findLast((s) => s.method === "PATCH")!;
    expect([patch.url, JSON.parse(patch.body)]).toEqual([`/v1beta/${cache.name}`, { ttl: "7200s" }]);

    expect((await all(await ai.caches.list())).map((c) => c.name)).toEqual([cache.name]);
    await ai.caches.delete({ name: cache.name! });
    await expect(ai.caches.get({ name: cache.name! })).rejects.toMatchObject({ status: 404 });

    // Creating it was charged its tokens at the cached-input price ($0.025) and their storage until the expiry the
    // upstream answered ($1.00 per 1M tokens per hour, 300 s: 4096 × 300 / 3600 token-hours); the PATCH to 7200 s
    // the hours it added (from the first expiry to the new one: 6900 s plus the time between the two calls, measured
    // by the upstream's createTime and updateTime).
    const [created] = await rows(id, "cachedContents.create");
    expect(created).toMatchObject({ provider: "gemini", model: "gemini-2.0-flash", input_tokens: 4096, cached_tokens: 4096, unpriced: null });
    expect(created!.cost_usd).toBeCloseTo((4096 * 0.025 + (4096 * 300) / 3600) / 1e6, 9); // rows keep USD to 1e-10
    const [patchRow] = await rows(id, "cachedContents.patch");
    expect(patchRow).toMatchObject({ status: 200, model: "gemini-2.0-flash" });
    const added = (Date.parse(patched.expireTime!) - Date.parse(cache.expireTime!)) / 1000;
    expect(added).toBeGreaterThanOrEqual(6900);
    expect(patchRow!.cost_usd).toBeCloseTo((4096 * added) / 3600 / 1e6, 9);
  });
});

describe("batch mode", () => {
  it("inline requests: create → poll to done → one usage row at half the interactive price", async () => {
    const { ai, id } = await newKey();
    const job = await ai.batches.create({
      model: "gemini-2.0-flash",
      src: ["one", "two", "three"].map((t) => ({ contents: [{ role: "user", parts: [{ text: t }] }] })),
      config: { displayName: "three" },
    });
    expect(job.name).toMatch(/^batches\//);
    expect(job.state).toBe("JOB_STATE_PENDING");
    let j = job;
    for (let i = 0; i < 5 && !finished(j.state); i++) j = await ai.batches.get({ name: job.name! });
    expect(j.state).toBe("JOB_STATE_SUCCEEDED");
    expect(j.dest?.inlinedResponses?.map((r) => r.response?.candidates?.[0]?.content?.parts?.[0]?.text)).toEqual(["answer 0", "answer 1", "answer 2"]);

    const row = await gw.usageRow(`batch:${job.name}`);
    // 3 requests of 10 input and 5 output tokens, gemini-2.0-flash at $0.10/$0.40 per 1M, batch price 50 %.
    expect(row).toMatchObject({ key_id: id, action: "batchGenerateContent", provider: "gemini", model: "gemini-2.0-flash", requests: 3, input_tokens: 30, output_tokens: 15, status: 200, outcome: "ok" });
    expect(row.cost_usd).toBeCloseTo(((30 * 0.1 + 15 * 0.4) / 1e6) * 0.5, 12);
    // Polled again, listed: still one row.
    await ai.batches.get({ name: job.name! });
    expect((await all(await ai.batches.list())).map((b) => b.name)).toEqual([job.name]);
    const db = await gw.mf.getD1Database("DB");
    await gw.flushUsage();
    expect((await db.prepare("SELECT count(*) AS n FROM usage WHERE request_id LIKE 'batch:%' AND key_id = ?").bind(id).first<{ n: number }>())!.n).toBe(1);
    expect((await rows(id, "batches.create"))[0]).toMatchObject({ status: 200, model: "gemini-2.0-flash", requests: 1 });
  });

  it("a JSONL file as input: its responses file is the key's, read for the row's tokens", async () => {
    const { ai } = await newKey();
    const lines = ["a", "b"].map((t, i) => JSON.stringify({ key: `r${i}`, request: { contents: [{ parts: [{ text: t }] }] } })).join("\n") + "\n";
    const input = await ai.files.upload({ file: new Blob([lines], { type: "application/jsonl" }), config: { mimeType: "jsonl" } });
    const job = await ai.batches.create({ model: "gemini-2.0-flash", src: input.name! });
    let j = job;
    for (let i = 0; i < 5 && !finished(j.state); i++) j = await ai.batches.get({ name: job.name! });
    const out = j.dest?.fileName;
    expect(out).toMatch(/^files\/batch-/);
    const row = await gw.usageRow(`batch:${job.name}`);
    expect(row).toMatchObject({ requests: 2, input_tokens: 20, output_tokens: 10 });
    const dir = mkdtempSync(path.join(tmpdir(), "edgeway-"));
    await ai.files.download({ file: out!, downloadPath: path.join(dir, "out.jsonl") });
    expect(readFileSync(path.join(dir, "out.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("embeddings: asyncBatchEmbedContent is charged its input as counted at creation", async () => {
    const { ai } = await newKey();
    const job = await ai.batches.createEmbeddings({ model: "gemini-embedding-001", src: { inlinedRequests: { contents: ["first text", "second text"] } } });
    expect(gemini.seen.findLast((s) => s.method === "POST")!.url).toBe("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent");
    for (let i = 0; i < 5; i++) await ai.batches.get({ name: job.name! });
    const row = await gw.usageRow(`batch:${job.name}`);
    expect(row).toMatchObject({ action: "asyncBatchEmbedContent", requests: 2, output_tokens: 0 });
    expect(row.input_tokens).toBeGreaterThan(0);
    expect(row.cost_usd).toBeCloseTo(((row.input_tokens as number) * 0.15) / 1e6 * 0.5, 12);
  });

  it("cancel, then delete; a running batch may not be deleted", async () => {
    const { ai } = await newKey();
    const job = await ai.batches.create({ model: "gemini-2.0-flash", src: [{ contents: [{ role: "user", parts: [{ text: "x" }] }] }] });
    await expect(ai.batches.delete({ name: job.name! })).rejects.toMatchObject({ status: 400 });
    await ai.batches.cancel({ name: job.name! });
    expect((await ai.batches.get({ name: job.name! })).state).toBe("JOB_STATE_CANCELLED");
    const row = await gw.usageRow(`batch:${job.name}`);
    expect(row).toMatchObject({ outcome: "aborted", status: 499, input_tokens: 0, cost_usd: 0 });
    await ai.batches.delete({ name: job.name! });
    await expect(ai.batches.get({ name: job.name! })).rejects.toMatchObject({ status: 404 });
  });

  it("a batch nobody polls is recorded by the scheduled sweep; a poll racing the sweep still writes one row", async () => {
    const { ai, id } = await newKey({ budget: { max_usd: 5 } });
    const job = await ai.batches.create({ model: "gemini-2.0-flash", src: [{ contents: [{ role: "user", parts: [{ text: "x" }] }] }] });
    const worker = await gw.mf.getWorker();
    // The mock moves a batch one step per poll: the first sweep sees it running, then a poll and a sweep race.
    await worker.scheduled({ cron: "*/10 * * * *" });
    await Promise.all([ai.batches.get({ name: job.name! }), worker.scheduled({ cron: "*/10 * * * *" })]);
    const row = await gw.usageRow(`batch:${job.name}`);
    expect(row).toMatchObject({ requests: 1, input_tokens: 10, output_tokens: 5 });
    await new Promise((r) => setTimeout(r, 100));
    await gw.flushUsage();
    // Its Governor counted the cost once, and the batch's hold (its worst case, about $0.0016) is released.
    const governors = await gw.mf.getDurableObjectNamespace("GOVERNOR");
    const snap = (await (governors.get(governors.idFromName(`key:${id}`)) as unknown as { snapshot(): Promise<{ spent_usd: number; held: { usd: number } }> }).snapshot());
    expect(snap.spent_usd).toBeCloseTo(row.cost_usd as number, 12);
    expect(snap.held.usd).toBeLessThan(1e-6);
  });
});

describe("long-running operations (Veo)", () => {
  it("generateVideos → poll → the video's URI is the gateway's, and downloads streamed", async () => {
    const { ai, key } = await newKey();
    let op = await ai.models.generateVideos({ model: "veo-2.0-generate-001", prompt: "a cat on a beach" });
    expect(op.name).toMatch(/^models\/veo-2.0-generate-001\/operations\//);
    for (let i = 0; i < 5 && !op.done; i++) op = await ai.operations.getVideosOperation({ operation: op });
    expect(op.done).toBe(true);
    const uri = op.response!.generatedVideos![0]!.video!.uri!;
    const vid = /files\/([a-z0-9]+):download/.exec(uri)![1]!;
    expect(uri).toBe(`${gw.url}/genai/v1beta/files/${vid}:download?alt=media`);

    // The upstream holds back its last chunk until the client has read the first: only a stream gets that far.
    let open!: () => void;
    gemini.downloadGate = new Promise((r) => (open = r));
    const res = await fetch(uri, { headers: { "x-goog-api-key": key } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    const reader = res.body!.getReader();
    let got = (await reader.read()).value!.length;
    open();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
    }
    gemini.downloadGate = undefined;
    expect(got).toBe(3 * 65536);

    // And through the SDK, by the file's name.
    const dir = mkdtempSync(path.join(tmpdir(), "edgeway-"));
    await ai.files.download({ file: `files/${vid}`, downloadPath: path.join(dir, "video.mp4") });
    expect(statSync(path.join(dir, "video.mp4")).size).toBe(3 * 65536);

    // A poll by the bare operation name finds it too.
    const opId = op.name!.split("/").pop();
    const bare = await fetch(`${gw.url}/genai/v1beta/operations/${opId}`, { headers: { "x-goog-api-key": key } });
    expect(((await bare.json()) as { done: boolean }).done).toBe(true);
  });
});
