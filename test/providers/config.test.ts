import { afterEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import type { Env } from "../../src/env";
import type { Provider, ProviderCall } from "../../src/providers/types";
import { isProviderSegment } from "../../src/routes/model-path";
import { costOf, EMPTY_BILLABLE } from "../../src/usage/cost";

const configOf = (vars: Record<string, unknown>) => getConfig(vars as unknown as Env);
const CALL: ProviderCall = { action: "generateContent", model: "m", version: "v1beta", body: { contents: [{ parts: [{ text: "x" }] }] } };
/** The upstream request a provider prepares for a one-line call, with the credential its pool picks. */
const prepared = async (p: Provider, model = "m") => {
  const u = await p.prepare({ ...CALL, model }, p.pool.pick(model, new Set())!);
  return new Request(u.url, { method: "POST", headers: u.headers, body: u.body });
};
afterEach(() => {
  vi.restoreAllMocks();
});

describe("provider registry", () => {
  it("registers openai and anthropic, configured by their keys", async () => {
    const none = configOf({});
    expect(none.providers.get("openai")!.configured).toBe(false);
    expect(none.providers.get("anthropic")!.configured).toBe(false);
    const keyed = configOf({ OPENAI_API_KEY: "o", ANTHROPIC_API_KEY: "a" });
    expect(keyed.providers.get("openai")!.configured).toBe(true);
    expect(keyed.providers.get("anthropic")!.configured).toBe(true);
    expect((await prepared(keyed.providers.get("openai")!, "gpt-4o-mini")).url).toBe("https://api.openai.com/v1/chat/completions");
  });

  it("adds OPENAI_COMPATIBLE_PROVIDERS hosts: keyless ones configured, keyed ones only with their secret", async () => {
    const c = configOf({
      OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([
        { name: "groq", base_url: "https://api.groq.com/openai", key_secret: "GROQ_API_KEY" },
        { name: "mistral", base_url: "https://api.mistral.ai", key_secret: "MISTRAL_API_KEY", models: ["mistral-large-latest"] },
        { name: "ollama", base_url: "http://localhost:11434/" },
      ]),
      GROQ_API_KEY: "g",
    });
    expect(c.providers.get("groq")!.configured).toBe(true);
    expect(c.providers.get("mistral")!.configured).toBe(false);
    expect(c.providers.get("mistral")!.models.map((m) => m.id)).toEqual(["mistral-large-latest"]);
    const ollama = c.providers.get("ollama")!;
    expect(ollama.configured).toBe(true);
    const req = await prepared(ollama, "llama3");
    expect(req.url).toBe("http://localhost:11434/v1/chat/completions");
    expect(req.headers.get("authorization")).toBeNull();
    expect(ollama.actions.has("predict")).toBe(false);
  });

  it("ignores an invalid list, and entries that take a built-in name, with a logged error", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    // The built-ins (gemini, openai, anthropic, azure, vertex, bedrock, workers-ai), and mock when MOCK_PROVIDER is on.
    expect(configOf({ OPENAI_COMPATIBLE_PROVIDERS: "[not json" }).providers.size).toBe(7);
    expect(configOf({ MOCK_PROVIDER: "on", OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([{ name: "Bad Name", base_url: "x" }]) }).providers.size).toBe(8);
    const c = configOf({ OPENAI_API_KEY: "real", OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([{ name: "openai", base_url: "https://evil.test" }]) });
    expect((await prepared(c.providers.get("openai")!)).url).toBe("https://api.openai.com/v1/chat/completions");
    expect(log).toHaveBeenCalledTimes(3);
  });
  it("a host may not be named like a Gemini resource collection: refused, and the path keeps its meaning", () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const reserved = ["files", "batches", "operations", "models", "upload", "download", "ws", "corpora"];
    const c = configOf({
      OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([...reserved.map((name) => ({ name, base_url: "https://evil.test" })), { name: "groq", base_url: "https://api.groq.com/openai" }]),
    });
    for (const name of reserved) expect(c.providerNames.has(name), name).toBe(false);
    expect(c.providerNames.has("groq")).toBe(true);
    expect(log).toHaveBeenCalledTimes(reserved.length);
    expect(log.mock.calls.map((a) => String(a[0]))).toEqual(reserved.map((n) => expect.stringContaining(`"${n}" is a built-in provider or Gemini resource name`)));
    // However the providers are configured, `files/...` and `batches/...` are resource paths, never a model.
    const withFiles = new Set([...c.providerNames, "files", "batches"]);
    expect(isProviderSegment("files", withFiles)).toBe(false);
    expect(isProviderSegment("batches", withFiles)).toBe(false);
    expect(isProviderSegment("groq", withFiles)).toBe(true);
  });
});

describe("PRICES", () => {
  it("overrides and extends the shipped price table", () => {
    const c = configOf({ PRICES: JSON.stringify({ "mock/*": { input: 5, output: 6 }, "acme/x": { input: 1, output: 1, cached_input: 0.5 } }) });
    expect(c.price("mock", "echo")).toEqual({ input: 5, output: 6 });
    expect(c.price("acme", "x")).toEqual({ input: 1, output: 1, cached_input: 0.5 });
    expect(c.price("openai", "gpt-4o-mini")).toEqual({ input: 0.15, output: 0.6, cached_input: 0.075 });
  });

  it("Vertex's Gemini and Claude cost what their own APIs charge; Bedrock, Azure and Workers AI are priced by PRICES", () => {
    const c = configOf({});
    expect(c.price("vertex", "gemini-2.5-flash")).toEqual(c.price("gemini", "gemini-2.5-flash"));
    // The catalogue lists Vertex's Claude without its 1-hour cache-write price, which defaults to 2x input: what Anthropic
    // lists. So every call costs the same on both, below and above the 200k tier.
    for (const prompt of [10_000, 300_000]) {
      const usage = { ...EMPTY_BILLABLE, prompt: { TEXT: prompt }, cached: { TEXT: 1000 }, cache_write: 2000, cache_write_1h: 3000, output: { TEXT: 500 } };
      expect(costOf(c.price("vertex", "claude-sonnet-4-5@20250929"), usage).usd).toBe(costOf(c.price("anthropic", "claude-sonnet-4-5"), usage).usd);
    }
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(c.price("bedrock", "amazon.nova-pro-v1:0")).toBeUndefined();
  });

  it("a malformed table is reported and ignored whole, so no cost is ever NaN", () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    const c = configOf({ PRICES: JSON.stringify({ "mock/*": 5, "acme/x": { input: 1 } }) });
    expect(c.price("mock", "echo")).toEqual({ input: 1, output: 2, cached_input: 0.5 });
    expect(c.price("acme", "x")).toBeUndefined();
    expect(String(err.mock.calls[0]![0])).toMatch(/^config PRICES is invalid \(mock\/\*: expected object/);
  });
});
