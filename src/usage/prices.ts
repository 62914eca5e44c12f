/**
 * Prices by provider/model: the shipped catalogue (src/usage/prices.generated.ts, generated from a maintained price
 * catalogue by scripts/generate-prices.mjs), under config `PRICES` (JSON, `{"provider/model*": Price}`), which
 * overrides or extends it. A `PRICES` key may end in `*` to cover a family; the longest match wins, and any
 * `PRICES` match wins over the catalogue.
 */
import * as z from "zod/mini";
import { catalogueEntry, priceAt, type CatalogueModel } from "./catalogue";
import { SHIPPED } from "./prices.generated";

const usd = () => z.optional(z.number().check(z.gte(0), z.lte(1e6)));

/** The token prices (USD per 1M tokens) a tier may change. */
const TOKEN_PRICES = {
  input: z.number().check(z.gte(0), z.lte(1e6)),
  output: z.number().check(z.gte(0), z.lte(1e6)),
  /** Input served from a cache (context cache, implicit cache, prompt cache); default `input`. */
  cached_input: usd(),
  /** Cached audio input, where priced apart; default `cached_input`, or `input_audio` when audio is priced apart. */
  cached_input_audio: usd(),
  cached_input_image: usd(),
  /** Thinking (reasoning) tokens; default `output`. */
  thinking: usd(),
  /** Input by modality; each defaults to `input`. */
  input_audio: usd(),
  input_image: usd(),
  input_video: usd(),
  /** Output by modality; each defaults to `output` (a modality with no field at all is flagged: src/usage/cost.ts). */
  output_audio: usd(),
  output_image: usd(),
  output_video: usd(),
  /** Anthropic prompt-cache writes, 5-minute (default 1.25 × input) and 1-hour (default 2 × input). */
  cache_write: usd(),
  cache_write_1h: usd(),
};

/** One tier: above `above` prompt tokens its prices apply to the whole call; what it leaves out keeps its price. */
const Tier = z.object({ above: z.number().check(z.int(), z.gte(0)), ...z.partial(z.object(TOKEN_PRICES)).shape });

export const Price = z.object({
  ...TOKEN_PRICES,
  tiers: z.optional(z.array(Tier).check(z.maxLength(8))),
  /** Imagen: USD per generated image. */
  per_image: usd(),
  /** Veo: USD per second of generated video. */
  per_second: usd(),
  /** Context caches: USD per 1M cached tokens per hour. */
  cache_storage_per_hour: usd(),
});
export type Price = z.infer<typeof Price>;
export type Tier = z.infer<typeof Tier>;
export type PriceTable = Record<string, Price>;

/** Built in, not from the catalogue: the mock is priced so budgets and cost columns can be exercised offline. */
export const BUILT_IN: PriceTable = {
  "mock/*": { input: 1, output: 2, cached_input: 0.5 },
};

export interface PriceLookup {
  (provider: string, model: string): Price | undefined;
}

/** Prices from `overrides` (PRICES over the built-in ones), else the catalogue. */
export function priceLookup(overrides: PriceTable, shipped: Record<string, readonly CatalogueModel[]> = SHIPPED): PriceLookup {
  const exact = new Map<string, Price>();
  const prefixes: [string, Price][] = [];
  for (const [k, v] of Object.entries({ ...BUILT_IN, ...overrides })) {
    if (k.endsWith("*")) prefixes.push([k.slice(0, -1), v]);
    else exact.set(k, v);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  const memo = new Map<string, Price | CatalogueModel | undefined>();
  return (provider, model) => {
    const id = `${provider}/${model}`;
    let found: Price | CatalogueModel | undefined;
    if (memo.has(id)) found = memo.get(id);
    else {
      found = exact.get(id) ?? prefixes.find(([pre]) => id.startsWith(pre))?.[1] ?? catalogueEntry(shipped, provider, model);
      // Memoised, so this says it once per model per isolate.
      if (!found) console.warn(`price: no price for "${id}"; its calls count as $0 (flagged unpriced), and keys or teams with a budget may not call it (set PRICES to price it)`);
      if (memo.size < 10_000) memo.set(id, found);
    }
    if (!found) return undefined;
    return "match" in found ? priceAt((found as CatalogueModel).prices, Date.now()) : (found as Price);
  };
}

/** USD to 1e-10, so sums of many small costs compare equal wherever they are added up. */
export const roundUsd = (usd: number) => Math.round(usd * 1e10) / 1e10;
