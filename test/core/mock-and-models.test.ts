/** The built-in mock answers every action offline; the models routes list what the key may use. */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE, createKey, genai, textRequest } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "mock" })).key;
});

describe("mock provider", () => {
  it("generateContent is deterministic and reports usage", async () => {
    const a = (await (await genai("mock/echo", "generateContent", textRequest("same"), key)).json()) as any;
    const b = (await (await genai("mock/echo", "generateContent", textRequest("same"), key)).json()) as any;
    expect(a).toEqual(b);
    expect(a.responseId).toMatch(/^mock-[0-9a-f]{8}$/);
    expect(a.candidates[0].content.parts[0].text).toBe("This is the edgeway mock model. You said: same");
    expect(a.usageMetadata).toEqual({ promptTokenCount: 1, candidatesTokenCount: 12, totalTokenCount: 13 });
  });

  it("countTokens, embedContent, batchEmbedContents", async () => {
    const count = (await (await genai("mock/echo", "countTokens", { contents: [{ parts: [{ text: "12345678" }] }] }, key)).json()) as any;
    expect(count).toEqual({ totalTokens: 2 });
    const one = (await (await genai("mock/echo", "embedContent", { content: { parts: [{ text: "a" }] }, outputDimensionality: 4 }, key)).json()) as any;
    expect(one.embedding.values).toHaveLength(4);
    const batch = (await (
      await genai("mock/echo", "batchEmbedContents", { requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] }, key)
    ).json()) as any;
    expect(batch.embeddings).toHaveLength(2);
    expect(batch.embeddings[0].values).toEqual(
      (await (await genai("mock/echo", "embedContent", { content: { parts: [{ text: "a" }] } }, key)).json() as any).embedding.values,
    );
    expect(batch.embeddings[0].values).not.toEqual(batch.embeddings[1].values);
  });
});

describe("models routes", () => {
  const get = (path: string, k = key) => SELF.fetch(`${BASE}/genai/v1beta/${path}`, { headers: { "x-goog-api-key": k } });

  it("lists models of configured providers in Gemini's shape, with no empty nextPageToken", async () => {
    const body = (await (await get("models")).json()) as any;
    expect(Object.keys(body)).toEqual(["models"]);
    const names = body.models.map((m: any) => m.name);
    expect(names).toContain("models/gemini-2.0-flash");
    expect(names).toContain("models/mock/echo");
    const m = body.models.find((x: any) => x.name === "models/gemini-2.0-flash");
    expect(m.supportedGenerationMethods).toContain("generateContent");
  });

  it("lists only what the key may use", async () => {
    const { key: limited } = await createKey({ models: ["mock/*"] });
    const body = (await (await get("models", limited)).json()) as any;
    expect(body.models.map((m: any) => m.name)).toEqual(["models/mock/echo"]);
    expect((await get("models/gemini-2.0-flash", limited)).status).toBe(404);
  });

  it("gets one model by bare name, models/ prefix or provider/model; 404 for unknown", async () => {
    expect(((await (await get("models/gemini-2.0-flash")).json()) as any).name).toBe("models/gemini-2.0-flash");
    expect(((await (await get("models/mock%2Fecho")).json()) as any).name).toBe("models/mock/echo");
    expect(((await (await get("models/mock/echo")).json()) as any).displayName).toMatch(/mock/);
    const missing = await get("models/gemini-9");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { status: "NOT_FOUND" } });
  });

  it("needs a key", async () => {
    expect((await SELF.fetch(`${BASE}/genai/v1beta/models`)).status).toBe(401);
  });
});
