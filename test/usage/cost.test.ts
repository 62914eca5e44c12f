/**
 * The cost of a call, one test per billing dimension. Usage is in each provider's wire format; every expected figure
 * is worked out by hand from the shipped prices (docs/prices.md, "Prices and costs"; USD per 1M tokens unless said), the
 * arithmetic written beside it.
 */
import { describe, expect, it, vi } from "vitest";
import { worstUsd } from "../../src/governance/worst-case";
import { LiveUsage, liveBillable } from "../../src/live/usage";
import { messageResponse, usageMetadata as anthropicUsage } from "../../src/providers/anthropic/response";
import { usageMetadata as openaiUsage } from "../../src/providers/openai/response";
import { catalogueEntry, priceAt } from "../../src/usage/catalogue";
import { billableOf, costOf, scaled, type Cost } from "../../src/usage/cost";
import { priceLookup, type Price } from "../../src/usage/prices";
import { SHIPPED } from "../../src/usage/prices.generated";
import { tokensOf } from "../../src/usage/row";

const shipped = priceLookup({});
const price = (id: string): Price => {
  const [provider, ...rest] = id.split("/");
  const p = shipped(provider!, rest.join("/"));
  if (!p) throw new Error(`no shipped price for ${id}`);
  return p;
};
/** The cost of one Gemini-shaped usageMetadata at a shipped price. */
const cost = (id: string, usage: Record<string, unknown>, units?: Parameters<typeof billableOf>[1]): Cost => costOf(price(id), billableOf(usage as never, units));
const M = 1e6;

describe("Gemini: every dimension from usageMetadata", () => {
  it("text in and out at the model's prices (gemini-2.5-flash: $0.30 in, $2.50 out)", () => {
    const c = cost("gemini/gemini-2.5-flash", { promptTokenCount: 1000, candidatesTokenCount: 200, totalTokenCount: 1200 });
    // 1000 × 0.30 + 200 × 2.50 = 300 + 500 = 800 per 1M
    expect(c.usd).toBe(800 / M);
    expect(c.unpriced).toEqual([]);
  });

  it("prompt tokens by modality: audio at input_audio ($1.00), the rest at the text price", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: 1000, candidatesTokenCount: 100, totalTokenCount: 1100,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 400 }, { modality: "AUDIO", tokenCount: 600 }],
      candidatesTokensDetails: [{ modality: "TEXT", tokenCount: 100 }],
    });
    // 400 × 0.30 + 600 × 1.00 + 100 × 2.50 = 120 + 600 + 250 = 970
    expect(c.input).toBe(720 / M);
    expect(c.usd).toBe(970 / M);
  });

  it("image and video input are priced as text where the model has no price of their own", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: 1290, candidatesTokenCount: 10,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 32 }, { modality: "IMAGE", tokenCount: 258 }, { modality: "VIDEO", tokenCount: 1000 }],
    });
    // (32 + 258 + 1000) × 0.30 + 10 × 2.50 = 387 + 25 = 412
    expect(c.usd).toBe(412 / M);
  });

  it("cached tokens at the cache price, and not again as input (implicit or explicit cache hit)", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: 10_000, cachedContentTokenCount: 8000, candidatesTokenCount: 100, totalTokenCount: 10_100,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 10_000 }],
      cacheTokensDetails: [{ modality: "TEXT", tokenCount: 8000 }],
    });
    // fresh 2000 × 0.30 = 600; cached 8000 × 0.03 = 240; output 100 × 2.50 = 250; 1090
    expect([c.input, c.cached, c.output]).toEqual([600 / M, 240 / M, 250 / M]);
    expect(c.usd).toBe(1090 / M);
    // A cache hit never costs more than the miss: 10,000 fresh would be 3000 + 250.
    expect(c.usd).toBeLessThan(cost("gemini/gemini-2.5-flash", { promptTokenCount: 10_000, candidatesTokenCount: 100 }).usd);
  });

  it("cached audio at the cached audio price ($0.10), cached text at $0.03", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: 3000, cachedContentTokenCount: 2000,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 1500 }, { modality: "AUDIO", tokenCount: 1500 }],
      cacheTokensDetails: [{ modality: "TEXT", tokenCount: 1000 }, { modality: "AUDIO", tokenCount: 1000 }],
    });
    // fresh: 500 text × 0.30 + 500 audio × 1.00 = 150 + 500 = 650; cached: 1000 × 0.03 + 1000 × 0.10 = 30 + 100 = 130
    expect(c.usd).toBe(780 / M);
  });

  it("a cached count without details comes off the text first; more cached than prompt is never priced twice", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: 1000, cachedContentTokenCount: 5000,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 1000 }],
    });
    // cached capped at the prompt: 1000 × 0.03 = 30; no fresh input
    expect(c.usd).toBe(30 / M);
  });

  it("thinking tokens at the output price ($2.50), or at `thinking` when PRICES sets it", () => {
    const usage = { promptTokenCount: 100, candidatesTokenCount: 50, thoughtsTokenCount: 500, totalTokenCount: 650 };
    // 100 × 0.30 + 50 × 2.50 + 500 × 2.50 = 30 + 125 + 1250 = 1405
    expect(cost("gemini/gemini-2.5-flash", usage).usd).toBe(1405 / M);
    expect(cost("gemini/gemini-2.5-flash", usage).thinking).toBe(1250 / M);
    const own = costOf({ ...price("gemini/gemini-2.5-flash"), thinking: 3.5 }, billableOf(usage));
    // 30 + 125 + 500 × 3.50 = 30 + 125 + 1750 = 1905
    expect(own.usd).toBe(1905 / M);
    expect(tokensOf(usage)).toEqual({ input: 100, output: 550, cached: 0, thinking: 500, tool_use: 0 });
  });

  it("tool-use prompt tokens at the input price, once: outside Gemini's prompt, inside the row's input", () => {
    const usage = { promptTokenCount: 1000, toolUsePromptTokenCount: 300, candidatesTokenCount: 100, totalTokenCount: 1400 };
    const c = cost("gemini/gemini-2.5-flash", usage);
    // 1000 × 0.30 + 300 × 0.30 + 100 × 2.50 = 300 + 90 + 250 = 640
    expect(c.tool_use).toBe(90 / M);
    expect(c.usd).toBe(640 / M);
    // The row's input counts them (1000 + 300) and shows them apart; the price above counted them once.
    expect(tokensOf(usage)).toEqual({ input: 1300, output: 100, cached: 0, thinking: 0, tool_use: 300 });
  });

  it("output by modality: generated images at output_image (gemini-2.5-flash-image: $30)", () => {
    const c = cost("gemini/gemini-2.5-flash-image", {
      promptTokenCount: 10, candidatesTokenCount: 1300, totalTokenCount: 1310,
      candidatesTokensDetails: [{ modality: "IMAGE", tokenCount: 1290 }, { modality: "TEXT", tokenCount: 10 }],
    });
    // 10 × 0.30 + 1290 × 30 + 10 × 2.50 = 3 + 38,700 + 25 = 38,728
    expect(c.usd).toBe(38_728 / M);
  });

  it("the tier above 200k prompt tokens prices the whole call (gemini-2.5-pro: $2.50 / $15 / cached $0.25)", () => {
    const at = (prompt: number, cached = 0) =>
      cost("gemini/gemini-2.5-pro", { promptTokenCount: prompt, cachedContentTokenCount: cached, candidatesTokenCount: 1000, thoughtsTokenCount: 2000 });
    // At 200,000 (not above): 200,000 × 1.25 + 3000 × 10 = 250,000 + 30,000 = 280,000
    expect(at(200_000).usd).toBe(0.28);
    expect(at(200_000).tier).toBeNull();
    // At 200,001: 200,001 × 2.50 + 3000 × 15 = 500,002.5 + 45,000 = 545,002.5
    expect(at(200_001).usd).toBe(0.5450025);
    expect(at(200_001).tier).toBe(200_000);
    // Cached tokens count toward the prompt and take the tier's cache price: 50,001 × 2.50 + 150,000 × 0.25 + 45,000
    // = 125,002.5 + 37,500 + 45,000 = 207,502.5
    expect(at(200_001, 150_000).usd).toBe(0.2075025);
  });

  it("Gemini 3 Pro's tier too ($2 / $12 → $4 / $18 above 200k)", () => {
    // 250,000 × 4 + 1000 × 18 = 1,000,000 + 18,000
    expect(cost("gemini/gemini-3-pro-preview", { promptTokenCount: 250_000, candidatesTokenCount: 1000 }).usd).toBe(1.018);
  });

  it("a batch is billed at the batch price: every line halved", () => {
    const c = cost("gemini/gemini-2.5-pro", { promptTokenCount: 1000, candidatesTokenCount: 1000, cachedContentTokenCount: 400 });
    // (600 × 1.25 + 400 × 0.125 + 1000 × 10) / 2 = (750 + 50 + 10,000) / 2 = 5400
    expect(scaled(c, 0.5).usd).toBe(5400 / M);
  });

  it("context-cache storage per 1M tokens per hour (gemini-2.5-flash: $1.00; gemini-2.5-pro: $4.50)", () => {
    // 100,000 tokens for 2 hours = 200,000 token-hours: × 1.00 = 0.20; × 4.50 = 0.90
    expect(cost("gemini/gemini-2.5-flash", {}, { cache_token_hours: 200_000 }).usd).toBe(0.2);
    expect(cost("gemini/gemini-2.5-pro", {}, { cache_token_hours: 200_000 }).storage).toBe(0.9);
  });

  it("Imagen per image, Veo per second of video", () => {
    // 3 images × $0.04
    expect(cost("gemini/imagen-4.0-generate-001", {}, { images: 3 }).usd).toBe(0.12);
    // 2 videos × 8 s × $0.40
    expect(cost("gemini/veo-3.0-generate-001", {}, { video_seconds: 16 }).usd).toBe(6.4);
    // Fast: 8 s × $0.15
    expect(cost("gemini/veo-3.0-fast-generate-001", {}, { video_seconds: 8 }).usd).toBe(1.2);
  });

  it("Live audio in and out at their prices (gemini-live-2.5-flash: $0.50 / $2, audio $3 in, $12 out)", () => {
    const u = new LiveUsage();
    u.observe({
      usageMetadata: {
        promptTokenCount: 1000, responseTokenCount: 500, toolUsePromptTokenCount: 100,
        promptTokensDetails: [{ modality: "TEXT", tokenCount: 200 }, { modality: "AUDIO", tokenCount: 800 }],
        responseTokensDetails: [{ modality: "AUDIO", tokenCount: 500 }],
      },
      serverContent: { turnComplete: true },
    });
    const c = costOf(price("gemini/gemini-live-2.5-flash"), liveBillable(u.total()));
    // 200 × 0.50 + 800 × 3 + 100 (tool use, text) × 0.50 + 500 × 12 = 100 + 2400 + 50 + 6000 = 8550
    expect(c.usd).toBe(8550 / M);
  });

  it("Live video input at input_video (gemini-3.1-flash-live-preview: $1 image and video, $0.75 text)", () => {
    const u = new LiveUsage();
    u.observe({ usageMetadata: { promptTokenCount: 1258, promptTokensDetails: [{ modality: "VIDEO", tokenCount: 1000 }, { modality: "IMAGE", tokenCount: 258 }] } });
    // 1000 × 1 + 258 × 1 = 1258
    expect(costOf(price("gemini/gemini-3.1-flash-live-preview"), liveBillable(u.total())).usd).toBe(1258 / M);
  });
});

describe("OpenAI and Anthropic usage, as their translations carry it", () => {
  it("OpenAI cached input (prompt_tokens_details.cached_tokens) at the cached price (gpt-4o: $2.50, cached $1.25, $10 out)", () => {
    const u = openaiUsage({ prompt_tokens: 2000, completion_tokens: 300, total_tokens: 2300, prompt_tokens_details: { cached_tokens: 1024 } });
    // 976 × 2.50 + 1024 × 1.25 + 300 × 10 = 2440 + 1280 + 3000 = 6720
    expect(costOf(price("openai/gpt-4o"), billableOf(u)).usd).toBe(6720 / M);
  });

  it("OpenAI reasoning tokens as thinking at the output price (o4-mini: $1.10 / $4.40)", () => {
    const u = openaiUsage({ prompt_tokens: 100, completion_tokens: 1100, completion_tokens_details: { reasoning_tokens: 1000 } });
    expect(tokensOf(u)).toMatchObject({ thinking: 1000, output: 1100 });
    // 100 × 1.10 + 100 × 4.40 + 1000 × 4.40 = 110 + 440 + 4400 = 4950
    expect(costOf(price("openai/o4-mini"), billableOf(u)).usd).toBe(4950 / M);
  });

  it("OpenAI audio in and out at the audio prices (gpt-audio: $2.50 / $10, audio $32 in, $64 out)", () => {
    const u = openaiUsage({
      prompt_tokens: 1100, completion_tokens: 600,
      prompt_tokens_details: { audio_tokens: 1000, cached_tokens: 0 }, completion_tokens_details: { audio_tokens: 500, reasoning_tokens: 0 },
    });
    // 100 × 2.50 + 1000 × 32 + 100 × 10 + 500 × 64 = 250 + 32,000 + 1000 + 32,000 = 65,250
    expect(costOf(price("openai/gpt-audio"), billableOf(u)).usd).toBe(65_250 / M);
  });

  it("Anthropic cache writes at 1.25x input, 1-hour writes at 2x, reads at 0.1x (claude-sonnet-4-5: $3 / $15)", () => {
    const u = anthropicUsage({
      input_tokens: 100, output_tokens: 200, cache_read_input_tokens: 5000, cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 1000 },
    });
    expect(u.promptTokenCount).toBe(8100);
    const c = costOf(price("anthropic/claude-sonnet-4-5"), billableOf(u));
    // 100 × 3 + 2000 × 3.75 + 1000 × 6 + 5000 × 0.30 + 200 × 15 = 300 + 7500 + 6000 + 1500 + 3000 = 18,300
    expect(c.cache_write).toBe(13_500 / M);
    expect(c.usd).toBe(18_300 / M);
  });

  it("Anthropic cache writes without a price of their own default to 1.25x and 2x input", () => {
    const u = anthropicUsage({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_1h_input_tokens: 400 } });
    // 600 × 1.25 × 2 + 400 × 2 × 2 = 1500 + 1600 = 3100 (at $2 input)
    expect(costOf({ input: 2, output: 8 }, billableOf(u)).usd).toBe(3100 / M);
  });

  it("the writes survive a streamed answer's usage chunk and the charged-estimate copy", () => {
    const m = messageResponse({ content: [{ type: "text", text: "x" }], usage: { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 1000 } });
    // Spread copies a symbol key, as src/pipeline/respond.ts's charged() does.
    expect(costOf({ input: 2, output: 8 }, billableOf({ ...m.usageMetadata! })).cache_write).toBe(2500 / M);
    expect(JSON.stringify(m)).not.toContain("cache_write");
  });
});

describe("what no price covers is named, never free", () => {
  it("a modality the table does not know: flagged, priced at the dearest input price", () => {
    const c = cost("gemini/gemini-2.5-flash", { promptTokenCount: 1000, promptTokensDetails: [{ modality: "HOLOGRAM", tokenCount: 1000 }] });
    expect(c.unpriced).toEqual(["input:HOLOGRAM"]);
    // 1000 × max(0.30, audio 1.00) = 1000
    expect(c.usd).toBe(1000 / M);
    expect(cost("gemini/gemini-2.5-flash", { candidatesTokenCount: 10, candidatesTokensDetails: [{ modality: "SMELL", tokenCount: 10 }] }).unpriced).toEqual(["output:SMELL"]);
  });

  it("images, seconds or storage on a model without that price; a model without any price", () => {
    expect(cost("gemini/gemini-2.5-flash", {}, { images: 2 }).unpriced).toEqual(["per_image"]);
    expect(cost("gemini/gemini-2.5-flash", {}, { video_seconds: 8 }).unpriced).toEqual(["per_second"]);
    expect(cost("gemini/gemini-3.5-flash", {}, { cache_token_hours: 1000 }).unpriced).toEqual(["cache_storage_per_hour"]);
    expect(costOf(undefined, billableOf({ promptTokenCount: 5 }))).toMatchObject({ usd: 0, unpriced: ["model"] });
  });

  it("hostile counts cannot poison a cost: negative, NaN, strings and odd modality names are dropped", () => {
    const c = cost("gemini/gemini-2.5-flash", {
      promptTokenCount: -5, candidatesTokenCount: Number.NaN, thoughtsTokenCount: "7", toolUsePromptTokenCount: Infinity,
      promptTokensDetails: [{ modality: "text; DROP", tokenCount: 5 }, { modality: "AUDIO", tokenCount: -1 }, ...Array.from({ length: 40 }, () => ({ modality: "X", tokenCount: 1 }))],
    });
    expect(Number.isFinite(c.usd)).toBe(true);
    expect(c.usd).toBeGreaterThanOrEqual(0);
  });
});

describe("the worst case prices like the row", () => {
  it("reserves at the tier an estimate could reach (a text prompt may count up to 4x its 4-chars-a-token estimate)", () => {
    const pro = price("gemini/gemini-2.5-pro");
    // 40,000 estimated could be 160,000: base. 40,000 × 1.25 + 1000 × 10 = 50,000 + 10,000
    expect(worstUsd(pro, 40_000, 1000, false)).toBe(0.06);
    // 60,000 estimated could be 240,000: the tier. 60,000 × 2.50 + 1000 × 15 = 150,000 + 15,000
    expect(worstUsd(pro, 60_000, 1000, false)).toBe(0.165);
    // The boundary: 50,000 × 4 = 200,000 is not above the threshold; 50,001 × 4 is.
    // 50,000 × 1.25 + 1000 × 10 = 62,500 + 10,000; 50,001 × 2.50 + 1000 × 15 = 125,002.5 + 15,000
    expect(worstUsd(pro, 50_000, 1000, false)).toBe(0.0725);
    expect(worstUsd(pro, 50_001, 1000, false)).toBe(0.1400025);
  });

  it("media prompts at the dearest input price; output at the dearest output kind", () => {
    const live = price("gemini/gemini-live-2.5-flash");
    // 1000 × 3 (audio) + 100 × 12 (audio out) = 3000 + 1200
    expect(worstUsd(live, 1000, 100, true)).toBe(4200 / M);
    // Without media the prompt is text: 1000 × 0.50 + 1200
    expect(worstUsd(live, 1000, 100, false)).toBe(1700 / M);
    // Imagen: 4 images × $0.04
    expect(worstUsd(price("gemini/imagen-4.0-generate-001"), 5, 0, false, 4)).toBe(0.16);
  });
});

describe("the shipped catalogue", () => {
  it("matches ids as the catalogue does, and prices an unlisted suffix as the model it extends", () => {
    expect(catalogueEntry(SHIPPED, "gemini", "gemini-2.5-pro-preview-06-05")?.id).toBe("gemini-2.5-pro");
    expect(catalogueEntry(SHIPPED, "gemini", "gemini-2.5-pro-preview-tts")?.id).toBe("gemini-2.5-pro-tts");
    expect(catalogueEntry(SHIPPED, "gemini", "GEMINI-2.5-FLASH")?.id).toBe("gemini-2.5-flash");
    expect(catalogueEntry(SHIPPED, "gemini", "gemini-2.5-flash-002")?.id).toBe("gemini-2.5-flash");
    expect(catalogueEntry(SHIPPED, "gemini", "gemini-2.5-flash-lite-002")?.id).toBe("gemini-2.5-flash-lite");
    expect(catalogueEntry(SHIPPED, "vertex", "claude-sonnet-4-5@20250929")?.id).toBe("claude-sonnet-4-5");
    expect(catalogueEntry(SHIPPED, "bedrock", "anthropic.claude-sonnet-4-5")).toBeUndefined();
  });

  it("a dated price takes effect on its date (gemini-3.6-flash: $0.75 / $3.75, then $1.50 / $7.50 from 2027-01-01)", () => {
    const entry = catalogueEntry(SHIPPED, "gemini", "gemini-3.6-flash")!;
    expect(priceAt(entry.prices, Date.UTC(2026, 11, 31, 23, 59))).toMatchObject({ input: 0.75, output: 3.75 });
    expect(priceAt(entry.prices, Date.UTC(2027, 0, 1))).toMatchObject({ input: 1.5, output: 7.5 });
  });

  it("mock/* costs what docs/prices.md says: $1 per 1M input, $2 output, $0.50 cached", () => {
    // 600 fresh × 1 + 400 cached × 0.50 + 100 out × 2 = 600 + 200 + 200 = 1000
    expect(cost("mock/echo", { promptTokenCount: 1000, cachedContentTokenCount: 400, candidatesTokenCount: 100 }).usd).toBe(1000 / M);
    // Thinking at the output price: 50 × 2 = 100 more
    expect(cost("mock/echo", { promptTokenCount: 1000, cachedContentTokenCount: 400, candidatesTokenCount: 100, thoughtsTokenCount: 50 }).usd).toBe(1100 / M);
  });

  it("PRICES wins over the catalogue; a model nothing prices warns once", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const lookup = priceLookup({ "gemini/gemini-2.5-flash*": { input: 9, output: 9 } });
    expect(lookup("gemini", "gemini-2.5-flash")).toEqual({ input: 9, output: 9 });
    expect(lookup("gemini", "gemini-2.5-pro")).toMatchObject({ input: 1.25, output: 10 });
    expect(lookup("mock", "echo")).toEqual({ input: 1, output: 2, cached_input: 0.5 });
    expect(lookup("acme", "x")).toBeUndefined();
    expect(lookup("acme", "x")).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });
});
