/**
 * GET /admin/providers (the console's Providers page): each configured provider, its credentials by label (never a
 * secret: weights and model globs only), their cool-downs as the isolate answering sees them (credential health is
 * kept per isolate: another isolate may have learned otherwise), the models it lists with the price in force for
 * each, and the price table: the shipped catalogue's version and date, and the `PRICES` overrides over it.
 */
import { Hono } from "hono";
import { getConfig, priceOverrides } from "../../config";
import type { AppEnv } from "../../env";
import { catalogueEntry, priceAt } from "../../usage/catalogue";
import type { Price } from "../../usage/prices";
import { CATALOGUE, SHIPPED } from "../../usage/prices.generated";

export const providersApp = new Hono<AppEnv>();

/** Why a credential is out of rotation, in words (the pool keeps the kind of fault by where it keeps the cool-down). */
const why = (model: string | null, strikes: number) =>
  model === null
    ? "the upstream refused the credential itself (an invalid key, a refused token): out of rotation for every model"
    : `the upstream throttled it (429) at ${model}${strikes > 1 ? `, ${strikes} times in a row` : ""}`;

providersApp.get("/", (c) => {
  const config = getConfig(c.env);
  const now = Date.now();
  const overrides = priceOverrides(c.env) ?? {};
  const providers = [...config.providers.values()]
    .filter((p) => p.configured)
    .map((p) => {
      const cooling = p.pool.cooling(now);
      const keyless = p.pool.credentials.length === 1 && p.pool.credentials[0]!.label === "";
      return {
        name: p.name,
        keyless,
        credentials: keyless
          ? []
          : p.pool.credentials.map((cred) => ({
            label: cred.label,
            weight: cred.weight,
            models: cred.models ?? null,
            cooling: cooling
              .filter((h) => h.label === cred.label)
              .sort((a, b) => b.until - a.until)
              .map((h) => ({ model: h.model, until: new Date(h.until).toISOString(), strikes: h.strikes, why: why(h.model, h.strikes) })),
          })),
        models: p.models.map((m) => {
          const price = config.price(p.name, m.id);
          return { id: m.id, price: price ?? null, price_source: price ? priceSource(p.name, m.id, price, now) : null };
        }),
      };
    });
  return c.json({
    health_scope: "isolate",
    providers,
    prices: {
      catalogue: CATALOGUE,
      overrides: Object.entries(overrides).map(([pattern, price]) => ({ pattern, price })),
    },
  });
});

/** Where a price in force comes from: the shipped catalogue (the very entry), else an override (PRICES, or the mock's). */
function priceSource(provider: string, model: string, price: Price, now: number): "catalogue" | "override" {
  const entry = catalogueEntry(SHIPPED, provider, model);
  return entry && priceAt(entry.prices, now) === price ? "catalogue" : "override";
}
