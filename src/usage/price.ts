/**
 * What a price is (USD per 1M tokens, by dimension): the shape of a `PRICES` entry and of the shipped catalogue's,
 * on its own so the catalogue and the lookup (src/usage/prices.ts) both read it without importing each other.
 */
import * as z from "zod/mini";

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
