/**
 * USD prices per 1M tokens by provider/model. Ships with the project; config `PRICES` (JSON, same shape)
 * overrides or extends it. Keys may end in `*` to cover a family (`gemini-2.5-flash*`); the longest match wins.
 */
import type { Tokens } from "./record";

export interface Price {
  input: number;
  output: number;
  /** Price of input tokens served from a prompt cache; defaults to `input`. */
  cached_input?: number;
  /** Audio (and video) input tokens, where the provider prices them apart (Live sessions); defaults to `input`. */
  input_audio?: number;
  /** Audio output tokens (Live sessions); defaults to `output`. */
  output_audio?: number;
}

export type PriceTable = Record<string, Price>;

/**
 * USD per 1M tokens, standard (not batch) tier, prompts up to 200k tokens where a provider charges more above.
 * Sources, read 2026-11-24: ai.google.dev/gemini-api/docs/pricing, openai.com/api/pricing,
 * platform.claude.com/docs/en/about-claude/pricing. A family pattern (`*`) prices every dated or suffixed id of
 * it; the longest pattern wins, so a dearer member (e.g. gpt-5-pro) is listed on its own.
 */
const OWN_APIS: PriceTable = {
  // Gemini (cached: context-cache reads).
  "gemini/gemini-3.1-pro*": { input: 2, output: 12, cached_input: 0.2 },
  "gemini/gemini-3-pro*": { input: 2, output: 12, cached_input: 0.2 },
  "gemini/gemini-3.1-flash-lite*": { input: 0.25, output: 1.5, cached_input: 0.025 },
  "gemini/gemini-3-flash*": { input: 0.5, output: 3, cached_input: 0.05 },
  "gemini/gemini-2.5-pro*": { input: 1.25, output: 10, cached_input: 0.125 },
  "gemini/gemini-2.5-flash-lite*": { input: 0.1, output: 0.4, cached_input: 0.01 },
  "gemini/gemini-2.5-flash*": { input: 0.3, output: 2.5, cached_input: 0.03 },
  "gemini/gemini-2.0-flash-lite*": { input: 0.075, output: 0.3 },
  "gemini/gemini-2.0-flash*": { input: 0.1, output: 0.4, cached_input: 0.025 },
  "gemini/text-embedding-004": { input: 0, output: 0 },
  "gemini/gemini-embedding-001": { input: 0.15, output: 0 },
  // OpenAI (cached: prompt-cache hits).
  "openai/gpt-5.4*": { input: 2.5, output: 15, cached_input: 0.25 },
  "openai/gpt-5.4-mini*": { input: 0.75, output: 4.5, cached_input: 0.075 },
  "openai/gpt-5-pro*": { input: 15, output: 120 },
  "openai/gpt-5-nano*": { input: 0.05, output: 0.4, cached_input: 0.005 },
  "openai/gpt-5-mini*": { input: 0.25, output: 2, cached_input: 0.025 },
  "openai/gpt-5*": { input: 1.25, output: 10, cached_input: 0.125 },
  "openai/gpt-4.1-nano*": { input: 0.1, output: 0.4, cached_input: 0.025 },
  "openai/gpt-4.1-mini*": { input: 0.4, output: 1.6, cached_input: 0.1 },
  "openai/gpt-4.1*": { input: 2, output: 8, cached_input: 0.5 },
  "openai/gpt-4o-mini*": { input: 0.15, output: 0.6, cached_input: 0.075 },
  "openai/gpt-4o*": { input: 2.5, output: 10, cached_input: 1.25 },
  "openai/o1-pro*": { input: 150, output: 600 },
  "openai/o1*": { input: 15, output: 60, cached_input: 7.5 },
  "openai/o3-pro*": { input: 20, output: 80 },
  "openai/o3-mini*": { input: 1.1, output: 4.4, cached_input: 0.55 },
  "openai/o3*": { input: 2, output: 8, cached_input: 0.5 },
  "openai/o4-mini*": { input: 1.1, output: 4.4, cached_input: 0.275 },
  "openai/text-embedding-3-small": { input: 0.02, output: 0 },
  "openai/text-embedding-3-large": { input: 0.13, output: 0 },
  // Anthropic (cached: cache hits; cache writes are billed as input here).
  "anthropic/claude-opus-4-5*": { input: 5, output: 25, cached_input: 0.5 },
  "anthropic/claude-opus-4-6*": { input: 5, output: 25, cached_input: 0.5 },
  "anthropic/claude-opus-4-7*": { input: 5, output: 25, cached_input: 0.5 },
  "anthropic/claude-opus-4-8*": { input: 5, output: 25, cached_input: 0.5 },
  "anthropic/claude-opus-4*": { input: 15, output: 75, cached_input: 1.5 },
  "anthropic/claude-sonnet-4*": { input: 3, output: 15, cached_input: 0.3 },
  "anthropic/claude-haiku-4*": { input: 1, output: 5, cached_input: 0.1 },
  "anthropic/claude-3-5-haiku*": { input: 0.8, output: 4, cached_input: 0.08 },
};

export const DEFAULT_PRICES: PriceTable = {
  ...OWN_APIS,
  // Vertex AI: Gemini and Claude at their own APIs' prices (its global endpoint's; regional endpoints may charge
  // more: set PRICES). Bedrock, Azure deployments and Workers AI are priced per account, region or deployment: set
  // PRICES for them.
  ...Object.fromEntries(
    Object.entries(OWN_APIS)
      .filter(([id]) => id.startsWith("gemini/gemini-") || id.startsWith("anthropic/claude-"))
      .map(([id, p]) => [`vertex/${id.slice(id.indexOf("/") + 1)}`, p]),
  ),
  // The mock is priced so budgets and cost columns can be exercised offline.
  "mock/*": { input: 1, output: 2, cached_input: 0.5 },
};

export interface PriceLookup {
  (provider: string, model: string): Price | undefined;
}

export function priceLookup(table: PriceTable): PriceLookup {
  const exact = new Map<string, Price>();
  const prefixes: [string, Price][] = [];
  for (const [k, v] of Object.entries(table)) {
    if (k.endsWith("*")) prefixes.push([k.slice(0, -1), v]);
    else exact.set(k, v);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  const memo = new Map<string, Price | undefined>();
  return (provider, model) => {
    const id = `${provider}/${model}`;
    if (memo.has(id)) return memo.get(id);
    const p = exact.get(id) ?? prefixes.find(([pre]) => id.startsWith(pre))?.[1];
    // Memoised below, so this says it once per model per isolate.
    if (!p) console.warn(`price: no price for "${id}"; its calls count as $0, and keys or teams with a budget may not call it (set PRICES to price it)`);
    if (memo.size < 10_000) memo.set(id, p);
    return p;
  };
}

/** Cost of one call. Cached input tokens are part of `input` (as every provider reports them) at their own price. */
export function costUsd(price: Price | undefined, t: Tokens): number {
  if (!price) return 0;
  const cached = Math.min(t.cached, t.input);
  const usd =
    ((t.input - cached) * price.input + cached * (price.cached_input ?? price.input) + t.output * price.output) / 1e6;
  return roundUsd(usd);
}

/** USD to 1e-10, so sums of many small costs compare equal wherever they are added up. */
export const roundUsd = (usd: number) => Math.round(usd * 1e10) / 1e10;
