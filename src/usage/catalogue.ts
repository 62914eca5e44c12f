/**
 * The shipped price catalogue (src/usage/prices.generated.ts, written by scripts/generate-prices.mjs): each model
 * with the catalogue's own match rule, so an id is priced exactly as the catalogue means it. An id no rule matches
 * takes the entry whose id it extends (`gemini-2.5-flash-002` → `gemini-2.5-flash`), the longest such id first.
 */
import type { Price } from "./price";

export type MatchLogic =
  | { equals: string }
  | { starts_with: string }
  | { ends_with: string }
  | { contains: string }
  | { regex: string }
  | { and: MatchLogic[] }
  | { or: MatchLogic[] };

/** A price, or prices by the date they take effect (`from`: ISO date, UTC; null: from the start). */
export type CataloguePrices = Price | readonly { from: string | null; prices: Price }[];

export interface CatalogueModel {
  id: string;
  match: MatchLogic;
  prices: CataloguePrices;
  deprecated?: boolean;
}

/** Which catalogue provider prices a gateway provider's models. */
const SOURCE: Record<string, string> = { gemini: "google", vertex: "google", openai: "openai", anthropic: "anthropic" };

const regexes = new Map<string, RegExp>();

/** The catalogue's match rule, as it applies them: strings compared without case, regexes as written. */
export function matches(m: MatchLogic, id: string): boolean {
  if ("equals" in m) return id.toLowerCase() === m.equals.toLowerCase();
  if ("starts_with" in m) return id.toLowerCase().startsWith(m.starts_with.toLowerCase());
  if ("ends_with" in m) return id.toLowerCase().endsWith(m.ends_with.toLowerCase());
  if ("contains" in m) return id.toLowerCase().includes(m.contains.toLowerCase());
  if ("regex" in m) {
    let re = regexes.get(m.regex);
    if (!re) regexes.set(m.regex, (re = new RegExp(m.regex)));
    return re.test(id);
  }
  if ("and" in m) return m.and.every((x) => matches(x, id));
  return m.or.some((x) => matches(x, id));
}

/** The catalogue entry pricing `provider/model`, if any. */
export function catalogueEntry(shipped: Record<string, readonly CatalogueModel[]>, provider: string, model: string): CatalogueModel | undefined {
  const list = shipped[SOURCE[provider] ?? ""];
  if (!list) return undefined;
  const hit = list.find((m) => matches(m.match, model));
  if (hit) return hit;
  let best: CatalogueModel | undefined;
  for (const m of list) if (model.startsWith(`${m.id}-`) && (!best || m.id.length > best.id.length)) best = m;
  return best;
}

/** The price in force at `now` (ms since the epoch). */
export function priceAt(p: CataloguePrices, now: number): Price {
  if (!Array.isArray(p)) return p as Price;
  let current = p[0]!.prices;
  for (const c of p) if (c.from === null || Date.parse(c.from) <= now) current = c.prices;
  return current;
}
