/**
 * What a call costs, from every dimension its usage reports (docs/prices.md, "Prices and costs"). One pure function,
 * `costOf(price, billable)`, prices a `Billable`; `billableOf` reads one from Gemini's `usageMetadata` (which the
 * OpenAI and Anthropic translations fill the same way), Live sessions and resource calls build theirs directly.
 *
 * Prices follow the catalogue's rules: a call's prompt size picks the tier for the whole call; cached tokens are
 * part of the prompt and are charged at the cache price only; a modality without a price of its own falls back to
 * the plain input (or output) price. What no price covers — a modality Gemini did not have when the table was
 * made, images without `per_image`, video without `per_second`, cache storage without `cache_storage_per_hour`, a
 * model without any price — is named in `unpriced`, and the row carries it (never silently free).
 */
import type { UsageMetadata } from "../gemini/schema";
import { roundUsd, type Price, type Tier } from "./prices";

/** Tokens by modality (`TEXT`, `AUDIO`, `IMAGE`, `VIDEO`, `DOCUMENT`, …). */
export type Counts = Record<string, number>;

/** What one call used, in every unit a price may charge. */
export interface Billable {
  /** The whole prompt by modality: cached tokens and cache writes included (Gemini's promptTokenCount). */
  prompt: Counts;
  /** The part of the prompt read from a cache. */
  cached: Counts;
  /** The part of the (text) prompt written to Anthropic's prompt cache, 5-minute and 1-hour. */
  cache_write: number;
  cache_write_1h: number;
  /** Tool results fed back (Gemini's toolUsePromptTokenCount): outside the prompt, at the input prices. */
  tool_use: Counts;
  thinking: number;
  /** The answer by modality, thinking not included. */
  output: Counts;
  images: number;
  video_seconds: number;
  /** Context-cache storage: cached tokens × hours. */
  cache_token_hours: number;
}

/** A call's cost, line by line (USD), the tier it was priced at, and what no price covered. */
export interface Cost {
  usd: number;
  input: number;
  cached: number;
  cache_write: number;
  tool_use: number;
  thinking: number;
  output: number;
  /** Images and seconds of video. */
  units: number;
  storage: number;
  /** `above` of the tier applied, or null. */
  tier: number | null;
  /** Dimensions priced by nothing (`model`, `input:HOLOGRAM`, `per_image`, …): the row's `unpriced`. */
  unpriced: string[];
}

export const EMPTY_BILLABLE: Billable = Object.freeze({
  prompt: {}, cached: {}, cache_write: 0, cache_write_1h: 0, tool_use: {}, thinking: 0, output: {}, images: 0, video_seconds: 0, cache_token_hours: 0,
}) as Billable;

const TEXTLIKE = new Set(["TEXT", "DOCUMENT", "MODALITY_UNSPECIFIED"]);
const MEDIA = { AUDIO: "audio", IMAGE: "image", VIDEO: "video" } as const;
type Media = keyof typeof MEDIA;
const isMedia = (m: string): m is Media => Object.hasOwn(MEDIA, m);

export function costOf(price: Price | undefined, b: Billable): Cost {
  const c: Cost = { usd: 0, input: 0, cached: 0, cache_write: 0, tool_use: 0, thinking: 0, output: 0, units: 0, storage: 0, tier: null, unpriced: [] };
  if (!price) {
    c.unpriced.push("model");
    return c;
  }
  const flag = (what: string) => c.unpriced.includes(what) || c.unpriced.push(what);
  const { price: p, tier } = tierAt(price, total(b.prompt));
  c.tier = tier;

  const inputAt = (m: string): number => {
    if (TEXTLIKE.has(m)) return p.input;
    if (isMedia(m)) return p[`input_${MEDIA[m]}`] ?? p.input;
    flag(`input:${m}`);
    return Math.max(p.input, p.input_audio ?? 0, p.input_image ?? 0, p.input_video ?? 0);
  };
  const cachedAt = (m: string): number => {
    if (m === "AUDIO") return p.cached_input_audio ?? (p.input_audio !== undefined ? p.input_audio : (p.cached_input ?? p.input));
    if (m === "IMAGE") return p.cached_input_image ?? p.cached_input ?? inputAt(m);
    if (TEXTLIKE.has(m) || m === "VIDEO") return p.cached_input ?? inputAt(m);
    return inputAt(m);
  };
  const outputAt = (m: string): number => {
    if (TEXTLIKE.has(m)) return p.output;
    if (isMedia(m)) return p[`output_${MEDIA[m]}`] ?? p.output;
    flag(`output:${m}`);
    return Math.max(p.output, p.output_audio ?? 0, p.output_image ?? 0, p.output_video ?? 0);
  };

  for (const [m, n] of Object.entries(fresh(b))) c.input += n * inputAt(m);
  for (const [m, n] of Object.entries(b.cached)) c.cached += n * cachedAt(m);
  c.cache_write = b.cache_write * (p.cache_write ?? p.input * 1.25) + b.cache_write_1h * (p.cache_write_1h ?? p.input * 2);
  for (const [m, n] of Object.entries(b.tool_use)) c.tool_use += n * inputAt(m);
  c.thinking = b.thinking * (p.thinking ?? p.output);
  for (const [m, n] of Object.entries(b.output)) c.output += n * outputAt(m);
  for (const k of ["input", "cached", "cache_write", "tool_use", "thinking", "output"] as const) c[k] = roundUsd(c[k] / 1e6);

  if (b.images) {
    if (price.per_image === undefined) flag("per_image");
    else c.units += b.images * price.per_image;
  }
  if (b.video_seconds) {
    if (price.per_second === undefined) flag("per_second");
    else c.units += b.video_seconds * price.per_second;
  }
  c.units = roundUsd(c.units);
  if (b.cache_token_hours) {
    if (price.cache_storage_per_hour === undefined) flag("cache_storage_per_hour");
    else c.storage = roundUsd((b.cache_token_hours * price.cache_storage_per_hour) / 1e6);
  }
  c.usd = roundUsd(c.input + c.cached + c.cache_write + c.tool_use + c.thinking + c.output + c.units + c.storage);
  return c;
}

/** The prices for a prompt of `promptTokens`: a tier's apply to the whole call once the prompt is over its `above`. */
export function tierAt(price: Price, promptTokens: number): { price: Price; tier: number | null } {
  let tier: Tier | undefined;
  for (const t of price.tiers ?? []) if (promptTokens > t.above && (!tier || t.above > tier.above)) tier = t;
  if (!tier) return { price, tier: null };
  const { above, ...prices } = tier;
  return { price: { ...price, ...prices, tiers: undefined }, tier: above };
}

/**
 * The prompt less what came from a cache or was written to one (cache writes are text), by modality. Cached tokens
 * an upstream counted under another modality than the prompt's come off the text first, then the rest.
 */
function fresh(b: Billable): Counts {
  const out: Counts = { ...b.prompt };
  let spill = b.cache_write + b.cache_write_1h;
  for (const [m, n] of Object.entries(b.cached)) {
    const own = Math.min(n, out[m] ?? 0);
    if (own) out[m] = out[m]! - own;
    spill += n - own;
  }
  for (const m of ["TEXT", ...Object.keys(out)]) {
    if (spill <= 0) break;
    const take = Math.min(spill, out[m] ?? 0);
    if (take > 0) {
      out[m] = out[m]! - take;
      spill -= take;
    }
  }
  return out;
}

/** Each line of a cost times `factor` (a batch's discount), what is unpriced unchanged. */
export function scaled(c: Cost, factor: number): Cost {
  const out = { ...c, unpriced: [...c.unpriced] };
  for (const k of ["usd", "input", "cached", "cache_write", "tool_use", "thinking", "output", "units", "storage"] as const) out[k] = roundUsd(c[k] * factor);
  return out;
}

/** Two costs added up (a batch's responses): the larger tier, both lists of what is unpriced. */
export function added(a: Cost, b: Cost): Cost {
  const out = { ...a, unpriced: [...new Set([...a.unpriced, ...b.unpriced])], tier: a.tier === null ? b.tier : b.tier === null ? a.tier : Math.max(a.tier, b.tier) };
  for (const k of ["usd", "input", "cached", "cache_write", "tool_use", "thinking", "output", "units", "storage"] as const) out[k] = roundUsd(a[k] + b[k]);
  return out;
}

/**
 * Where a translated answer keeps billing facts Gemini's usageMetadata has no field for (Anthropic's cache writes):
 * a symbol, so they never reach the caller's JSON.
 */
export const BILLING = Symbol("edgeway.billing");
export interface BillingExtras {
  cache_write?: number;
  cache_write_1h?: number;
}
export type BilledUsage = UsageMetadata & { [BILLING]?: BillingExtras };

/** Bounds on what an upstream's figures can make a row carry. */
const MAX_COUNT = 1e12;
const MAX_MODALITIES = 16;
const MODALITY_RE = /^[A-Z][A-Z0-9_]{0,31}$/;
const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), MAX_COUNT) : 0);

/** Gemini's `[{modality, tokenCount}]` as counts; malformed entries are skipped. */
export function byModality(details: unknown): Counts {
  const out: Counts = {};
  if (!Array.isArray(details)) return out;
  for (const d of details.slice(0, MAX_MODALITIES) as { modality?: unknown; tokenCount?: unknown }[]) {
    const m = d?.modality;
    if (typeof m !== "string" || !MODALITY_RE.test(m)) continue;
    const n = count(d.tokenCount);
    if (n) out[m] = (out[m] ?? 0) + n;
  }
  return out;
}

/** Counts by modality for a total: the details given, and what they leave out of the total as TEXT. */
export function withRest(details: Counts, totalCount: number): Counts {
  const rest = totalCount - total(details);
  return rest > 0 ? { ...details, TEXT: (details.TEXT ?? 0) + rest } : details;
}

export const total = (c: Counts) => Object.values(c).reduce((a, n) => a + n, 0);

type Wire = UsageMetadata & {
  toolUsePromptTokenCount?: unknown;
  promptTokensDetails?: unknown;
  cacheTokensDetails?: unknown;
  candidatesTokensDetails?: unknown;
  toolUsePromptTokensDetails?: unknown;
};

/** A Gemini-shaped `usageMetadata` as billable units, plus what only the request or answer tells (images, …). */
export function billableOf(u: BilledUsage | undefined, units?: Partial<Pick<Billable, "images" | "video_seconds" | "cache_token_hours">>): Billable {
  const w = (u ?? {}) as Wire;
  const prompt = withRest(byModality(w.promptTokensDetails), count(w.promptTokenCount));
  let cached = withRest(byModality(w.cacheTokensDetails), count(w.cachedContentTokenCount));
  // Never more cached than prompt: an upstream's inconsistent figures must not price tokens twice.
  if (total(cached) > total(prompt)) cached = { TEXT: total(prompt) };
  const extras = u?.[BILLING];
  return {
    prompt,
    cached,
    cache_write: count(extras?.cache_write),
    cache_write_1h: count(extras?.cache_write_1h),
    tool_use: withRest(byModality(w.toolUsePromptTokensDetails), count(w.toolUsePromptTokenCount)),
    thinking: count(w.thoughtsTokenCount),
    output: withRest(byModality(w.candidatesTokensDetails), count(w.candidatesTokenCount)),
    images: count(units?.images),
    video_seconds: count(units?.video_seconds),
    cache_token_hours: Math.max(0, Math.min(units?.cache_token_hours ?? 0, MAX_COUNT)) || 0,
  };
}
