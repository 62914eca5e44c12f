/** The official @google/genai SDK, pointed at the gateway by base URL, against a loopback Gemini upstream. */
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mockUpstream, startGateway, type Gateway, type MockUpstream } from "./harness";

let gemini: MockUpstream;
let gw: Gateway;
let ai: GoogleGenAI;

const answer = (text: string) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6 },
  modelVersion: "gemini-2.0-flash",
  responseId: "resp-1",
});

beforeAll(async () => {
  gemini = await mockUpstream(async (req, res) => {
    const action = req.url.split("?")[0]!.split(":").pop();
    if (action === "streamGenerateContent") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const [i, w] of ["Hello", " from", " Gemini"].entries()) {
        const chunk: Record<string, unknown> = { candidates: [{ content: { role: "model", parts: [{ text: w }] }, index: 0 }] };
        if (i === 2) {
          (chunk.candidates as any)[0].finishReason = "STOP";
          chunk.usageMetadata = { promptTokenCount: 3, candidatesTokenCount: 3, totalTokenCount: 6 };
        }
        res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return void res.end();
    }
    res.writeHead(200, { "content-type": "application/json" });
    if (action === "generateContent") return void res.end(JSON.stringify(answer("Hi there")));
    if (action === "countTokens") return void res.end(JSON.stringify({ totalTokens: 7 }));
    if (action === "batchEmbedContents") {
      const body = JSON.parse(req.body);
      return void res.end(JSON.stringify({ embeddings: body.requests.map(() => ({ values: [0.1, 0.2, 0.3] })) }));
    }
    if (action === "embedContent") return void res.end(JSON.stringify({ embedding: { values: [0.1, 0.2, 0.3] } }));
    res.writeHead(404).end();
  });
  gw = await startGateway({ GEMINI_API_KEY: "upstream-secret-gemini", GEMINI_BASE_URL: gemini.url });
  const { key } = await gw.createKey({ name: "sdk-e2e" });
  ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
});

afterAll(async () => {
  await gw?.stop();
  await gemini?.close();
});

describe("@google/genai against the gateway (native Gemini)", () => {
  it("generateContent", async () => {
    const r = await ai.models.generateContent({ model: "gemini-2.0-flash", contents: "Say hi", config: { temperature: 0.2 } });
    expect(r.text).toBe("Hi there");
    expect(r.usageMetadata?.totalTokenCount).toBe(6);
    const seen = gemini.requests.at(-1)!;
    expect(seen.url).toBe("/v1beta/models/gemini-2.0-flash:generateContent");
    expect(seen.headers["x-goog-api-key"]).toBe("upstream-secret-gemini");
    const body = JSON.parse(seen.body);
    expect(body.contents[0].parts[0].text).toBe("Say hi");
    expect(body.generationConfig.temperature).toBe(0.2);
  });

  it("generateContentStream yields each chunk", async () => {
    const texts: string[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: "gemini-2.0-flash", contents: "Stream" })) {
      texts.push(chunk.text ?? "");
    }
    expect(texts).toEqual(["Hello", " from", " Gemini"]);
    expect(gemini.requests.at(-1)!.url).toBe("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  });

  it("countTokens", async () => {
    const r = await ai.models.countTokens({ model: "gemini-2.0-flash", contents: "count me" });
    expect(r.totalTokens).toBe(7);
  });

  it("embedContent (batchEmbedContents on the wire)", async () => {
    const r = await ai.models.embedContent({ model: "text-embedding-004", contents: ["a", "b"] });
    expect(r.embeddings?.map((e) => e.values)).toEqual([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]);
    const seen = gemini.requests.at(-1)!;
    expect(seen.url).toBe("/v1beta/models/text-embedding-004:batchEmbedContents");
    expect(JSON.parse(seen.body).requests[0].model).toBe("models/text-embedding-004");
  });

  it("models.list and models.get", async () => {
    const names: string[] = [];
    for await (const m of await ai.models.list()) names.push(m.name!);
    expect(names).toContain("models/gemini-2.0-flash");
    expect(names).toContain("models/mock/echo");
    const m = await ai.models.get({ model: "gemini-2.0-flash" });
    expect(m.name).toBe("models/gemini-2.0-flash");
    expect(m.displayName).toBe("Gemini 2.0 Flash");
  });

  it("the built-in mock answers with no upstream", async () => {
    const before = gemini.requests.length;
    const r = await ai.models.generateContent({ model: "mock/echo", contents: "ping" });
    expect(r.text).toBe("This is the edgeway mock model. You said: ping");
    expect(gemini.requests.length).toBe(before);
  });

  it("a wrong key is UNAUTHENTICATED", async () => {
    const bad = new GoogleGenAI({ apiKey: "sk-bf-" + "x".repeat(40), httpOptions: { baseUrl: `${gw.url}/genai` } });
    await expect(bad.models.generateContent({ model: "gemini-2.0-flash", contents: "x" })).rejects.toMatchObject({ status: 401 });
  });
});
