/**
 * The most a call can use, reserved at admission: its input (estimated here, before any provider counts it) plus
 * its output cap (`maxOutputTokens`, else the model's own output limit), at the dearest of its targets' prices,
 * priced by the same model as the call's row (src/usage/cost.ts): the tier its prompt may reach, the dearest
 * modality it may use, images at `per_image`. The error of this estimate is the only way spend can pass a budget
 * (docs/governance.md).
 */
import { GatewayError } from "../gemini/errors";
import type { Action, Content, Part, RequestBody } from "../gemini/schema";
import { estimateTokens, systemText } from "../gemini/text";
import type { Target } from "../lib/target";
import { costOf, EMPTY_BILLABLE, tierAt } from "../usage/cost";
import type { ModelInfo } from "../providers/types";
import type { Price, PriceLookup } from "../usage/prices";

/** Output cap of a model the catalog does not know (the largest any shipped model allows). */
const DEFAULT_OUTPUT_CAP = 65_536;
/** A media part (image, audio, video, document): Gemini's smallest charge plus a token per 64 bytes. */
const MEDIA_BASE_TOKENS = 258;
const MEDIA_BYTES_PER_TOKEN = 64;
/** A file referenced by URI, whose size the gateway does not see. */
const FILE_TOKENS = 1_000;

/** What pricing reads of the isolate's config (src/config.ts): the price table and each provider's models. */
export interface Pricing {
  price: PriceLookup;
  providers: ReadonlyMap<string, { models: readonly ModelInfo[] }>;
}

export interface WorstCase {
  tokens: number;
  usd: number;
  /** Input tokens as estimated (also what an aborted call is charged when the provider never said). */
  inputTokens: number;
}

export function worstCase(config: Pricing, action: Action, body: RequestBody, targets: readonly Target[]): WorstCase {
  const input = estimateInput(action, body);
  const media = action !== "predict" && hasMedia(body);
  const images = action === "predict" ? imagesAsked(body) : 0;
  let tokens = 0;
  let usd = 0;
  for (const t of targets) {
    const output = outputCap(config, action, body, t);
    const price = config.price(t.provider, t.model);
    tokens = Math.max(tokens, input + output);
    if (price) usd = Math.max(usd, worstUsd(price, input, output, media, images));
  }
  return { tokens, usd, inputTokens: input };
}

/**
 * A text prompt is estimated at 4 characters a token and may count up to one token a character: the worst case
 * prices the tier such a prompt could reach, so no tier the estimate missed can overrun a budget.
 */
const TIER_REACH = 4;

/** The dearest a call of `input` estimated prompt tokens and `output` at most can cost at `price`. */
export function worstUsd(price: Price, input: number, output: number, media: boolean, images = 0): number {
  const { price: p } = tierAt(price, input * TIER_REACH);
  const dearest = (o: Record<string, number | undefined>) => Object.entries(o).reduce((a, b) => ((b[1] ?? -1) > (a[1] ?? -1) ? b : a))[0];
  // A prompt with media may be all of its dearest modality; an answer may be all of its dearest output kind.
  const inAs = media ? dearest({ TEXT: p.input, AUDIO: p.input_audio, IMAGE: p.input_image, VIDEO: p.input_video }) : "TEXT";
  const outAs = dearest({ TEXT: Math.max(p.output, p.thinking ?? 0), AUDIO: p.output_audio, IMAGE: p.output_image, VIDEO: p.output_video });
  const thinkingDearer = outAs === "TEXT" && (p.thinking ?? 0) > p.output;
  return costOf(p, {
    ...EMPTY_BILLABLE,
    prompt: input ? { [inAs]: input } : {},
    output: output && !thinkingDearer ? { [outAs]: output } : {},
    thinking: thinkingDearer ? output : 0,
    images,
  }).usd;
}

/**
 * The dearest `tokens` tokens of any kind can cost at `price` (a Live session's slice, whose split is unknown): all
 * input of its dearest modality or all output of its dearest kind, at whichever tier is dearest.
 */
export function worstTokensUsd(price: Price, tokens: number): number {
  let usd = 0;
  for (const above of [null, ...(price.tiers ?? []).map((t) => t.above)]) {
    const p = above === null ? { ...price, tiers: undefined } : tierAt(price, above + 1).price;
    usd = Math.max(usd, worstUsd(p, tokens, 0, true), worstUsd(p, 0, tokens, true));
  }
  return usd;
}

/**
 * The dimension a call would use that `price` cannot price, if any: images without `per_image` (Imagen on Gemini
 * and Vertex; OpenAI's images are priced by their tokens), video without `per_second`, a context cache's storage
 * without `cache_storage_per_hour`.
 */
function missingDimension(price: Price, action: string, provider: string): string | undefined {
  if (action === "predict" && (provider === "gemini" || provider === "vertex") && price.per_image === undefined) return "per_image";
  if ((action === "predictLongRunning" || action === "operations.create") && price.per_second === undefined) return "per_second";
  if (action === "cachedContents.create" && price.cache_storage_per_hour === undefined) return "cache_storage_per_hour";
  return undefined;
}

/** The targets a budget may not pay for: models without a price, or without a price for what `action` uses. */
export function unpriced(config: Pricing, targets: readonly Target[], action = ""): Target[] {
  return targets.filter((t) => {
    const price = config.price(t.provider, t.model);
    return !price || missingDimension(price, action, t.provider) !== undefined;
  });
}

/** The 403 for an unpriced model (or dimension of it) under a budget (a Live session's model too). */
export function unpricedRefusal(name: string, dimension?: string): GatewayError {
  if (dimension) {
    return new GatewayError(
      403,
      `model "${name}" has no price for ${dimension}, and this key or its team has a budget: only what is priced may be called. ` +
        `Price it in PRICES, e.g. {"${name}": {"input": 0, "output": 0, "${dimension}": 0.04}}`,
    );
  }
  return new GatewayError(
    403,
    `model "${name}" has no price, and this key or its team has a budget: only priced models may be called. ` +
      `Price it in PRICES (USD per 1M tokens), e.g. {"${name}": {"input": 1.25, "output": 10}}`,
  );
}

/** The 403 for the first of `targets` under a budget, naming what of it has no price. */
export function refusalFor(config: Pricing, t: Target, name: string, action = ""): GatewayError {
  const price = config.price(t.provider, t.model);
  return unpricedRefusal(name, price ? missingDimension(price, action, t.provider) : undefined);
}

/** Whether a request carries media (inline or by file): its prompt may be priced at a media price. */
function hasMedia(body: RequestBody): boolean {
  const b = body as { contents?: Content[] };
  return (b.contents ?? []).some((c) => c.parts?.some((p) => p.inlineData || p.fileData));
}

/** Images a `predict` may make: Imagen's `sampleCount` (default 4), OpenAI's `n` spelled as Gemini's. */
function imagesAsked(body: RequestBody): number {
  const n = (body as { parameters?: { sampleCount?: unknown } }).parameters?.sampleCount;
  const count = typeof n === "number" && Number.isInteger(n) && n > 0 ? n : IMAGEN_DEFAULT_SAMPLES;
  return count * Math.max(1, ((body as { instances?: unknown[] }).instances ?? []).length);
}

const IMAGEN_DEFAULT_SAMPLES = 4;

function outputCap(config: Pricing, action: Action, body: RequestBody, t: Target): number {
  if (action !== "generateContent" && action !== "streamGenerateContent") return 0;
  const g = (body as { generationConfig?: { maxOutputTokens?: number; candidateCount?: number; thinkingConfig?: { thinkingBudget?: number } } }).generationConfig;
  const model = config.providers.get(t.provider)?.models.find((m) => t.model === m.id || t.model.startsWith(`${m.id}-`));
  const cap = g?.maxOutputTokens && g.maxOutputTokens > 0 ? g.maxOutputTokens : (model?.outputTokenLimit ?? DEFAULT_OUTPUT_CAP);
  // A thinking budget may come on top of the visible output, depending on the provider.
  const thinking = Math.max(0, g?.thinkingConfig?.thinkingBudget ?? 0);
  return (cap + thinking) * Math.max(1, g?.candidateCount ?? 1);
}

export function estimateInput(action: Action, body: RequestBody): number {
  const b = body as Record<string, unknown> & { contents?: Content[]; systemInstruction?: Content | string };
  switch (action) {
    case "embedContent":
      return contentsTokens([b.content as Content]);
    case "batchEmbedContents":
      return (b.requests as { content: Content }[]).reduce((n, r) => n + contentsTokens([r.content]), 0);
    case "predict":
      return estimateTokens((b.instances as { prompt?: string }[]).map((i) => i.prompt ?? "").join(" "));
    case "countTokens": {
      const g = b.generateContentRequest as typeof b | undefined;
      return contentsTokens(b.contents ?? g?.contents);
    }
    default: {
      let n = contentsTokens(b.contents) + estimateTokens(systemText(b.systemInstruction as never));
      if (b.tools) n += estimateTokens(JSON.stringify(b.tools));
      return n;
    }
  }
}

function contentsTokens(contents: readonly Content[] | undefined): number {
  let chars = 0;
  let media = 0;
  for (const c of contents ?? []) for (const p of c.parts) media += partTokens(p, (n) => (chars += n));
  return Math.ceil(chars / 4) + media;
}

function partTokens(p: Part, text: (chars: number) => void): number {
  if (typeof p.text === "string") text(p.text.length);
  if (p.functionCall) text(JSON.stringify(p.functionCall).length);
  if (p.functionResponse) text(JSON.stringify(p.functionResponse).length);
  if (p.inlineData) return MEDIA_BASE_TOKENS + Math.ceil((p.inlineData.data.length * 3) / 4 / MEDIA_BYTES_PER_TOKEN);
  if (p.fileData) return MEDIA_BASE_TOKENS + FILE_TOKENS;
  return 0;
}
