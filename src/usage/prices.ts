/**
 * Prices by provider/model: the shipped catalogue (src/usage/prices.generated.ts, generated from a maintained price
 * catalogue by scripts/generate-prices.mjs), under config `PRICES` (JSON, `{"provider/model*": Price}`), which
 * overrides or extends it. A `PRICES` key may end in `*` to cover a family; the longest match wins, and any
 * `PRICES` match wins over the catalogue.
 */
import { catalogueEntry, priceAt, type CatalogueModel } from "./catalogue";
import type { Price, PriceTable } from "./price";
import { SHIPPED } from "./prices.generated";

export { Price, type PriceTable, type Tier } from "./price";

/** Built in, not from the catalogue: the mock is priced so budgets and cost columns can be exercised offline. */
const BUILT_IN: PriceTable = {
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
