/**
 * Providers (GET /admin/providers): each configured provider with its credentials by label (the gateway never shows
 * a secret), each credential's cool-downs as the answering isolate sees them, the models each serves, and the price
 * table in force: the shipped catalogue (its version and date) under the `PRICES` overrides.
 */
import type { PriceView, ProvidersView } from "../api";
import { useConsole } from "../context";
import { fmtTime } from "../format";
import { useLoad } from "../load";
import { Badge, Loading, PageHead } from "../ui/bits";
import { ErrorNote } from "../ui/dialog";

type ProviderView = ProvidersView["providers"][number];

/** `$0.3 in / $2.5 out` per 1M tokens, with the cached-input price when it differs. */
function priceText(p: PriceView | null): string {
  if (!p) return "no price (calls count as $0, flagged unpriced)";
  const usd = (n: number) => `$${n}`;
  const parts = [`${usd(p.input)} in`, `${usd(p.output)} out`];
  if (typeof p.cached_input === "number" && p.cached_input !== p.input) parts.push(`${usd(p.cached_input)} cached`);
  if (p.tiers?.length) parts.push("tiered by prompt size");
  if (typeof p.per_image === "number") return `$${p.per_image} per image`;
  if (typeof p.per_second === "number") return `$${p.per_second} per second of video`;
  return `${parts.join(" / ")} per 1M tokens`;
}

export function Providers() {
  const { admin } = useConsole();
  const load = useLoad(() => admin.providers(), [admin]);
  const d = load.data;
  return (
    <>
      <PageHead title="Providers">
        <button type="button" onClick={load.reload}>
          Refresh
        </button>
      </PageHead>
      <p class="muted">
        The providers this gateway is configured for and the credentials each holds, by label (secrets are never
        shown). Credential health is <strong>this isolate's view</strong>: each Worker isolate learns from the answers
        it sees, so another isolate may be cooling a different credential, and a restart forgets them all.
      </p>
      {load.error && <ErrorNote error={load.error} prefix="Could not read the providers" retry={load.reload} />}
      <div aria-busy={load.loading}>
        {!d ? (
          !load.error && <Loading what="providers" />
        ) : (
          <>
            {d.providers.map((p) => (
              <ProviderSection p={p} />
            ))}
            <PriceTable d={d} />
          </>
        )}
      </div>
    </>
  );
}

function ProviderSection({ p }: { p: ProviderView }) {
  const id = `provider-${p.name}`;
  return (
    <section class="panel" aria-labelledby={id}>
      <h2 id={id}>{p.name}</h2>
      {p.keyless ? (
        <p class="muted">Takes no credential (a keyless host or a binding).</p>
      ) : (
        <div class="table-wrap">
          <table class="cards credentials">
            <caption class="sr-only">Credentials of {p.name}</caption>
            <thead>
              <tr>
                <th scope="col">Credential</th>
                <th scope="col" class="num">
                  Weight
                </th>
                <th scope="col">Serves</th>
                <th scope="col">Health</th>
              </tr>
            </thead>
            <tbody>
              {p.credentials.map((c) => (
                <tr>
                  <td data-label="Credential" class="mono">
                    {c.label}
                  </td>
                  <td data-label="Weight" class="num">
                    {c.weight}
                  </td>
                  <td data-label="Serves" class="mono">
                    {c.models ? c.models.join(", ") : "every model"}
                  </td>
                  <td data-label="Health">
                    {c.cooling.length === 0 ? (
                      <Badge kind="ok">healthy</Badge>
                    ) : (
                      <ul class="plain">
                        {c.cooling.map((h) => (
                          <li>
                            <Badge kind={h.model === null ? "bad" : "warn"}>cooling{h.model ? ` at ${h.model}` : ""}</Badge> until {fmtTime(h.until)}: {h.why}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {p.models.length > 0 ? (
        <details>
          <summary>
            {p.models.length === 1 ? "1 listed model and its price" : `${p.models.length} listed models and their prices`}
          </summary>
          <div class="table-wrap">
            <table class="cards models">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Price in force</th>
                  <th scope="col">From</th>
                </tr>
              </thead>
              <tbody>
                {p.models.map((m) => (
                  <tr>
                    <td data-label="Model" class="mono">
                      {p.name}/{m.id}
                    </td>
                    <td data-label="Price in force">{priceText(m.price)}</td>
                    <td data-label="From">{m.price_source === "override" ? "override" : m.price_source === "catalogue" ? "catalogue" : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      ) : (
        <p class="muted">Lists no models (any model the upstream knows may still be requested).</p>
      )}
    </section>
  );
}

function PriceTable({ d }: { d: ProvidersView }) {
  const c = d.prices.catalogue;
  return (
    <section class="panel" aria-labelledby="prices-head">
      <h2 id="prices-head">Price table</h2>
      <p>
        Shipped catalogue: <span class="mono">{c.source}</span> {c.version}, dated <strong>{c.date}</strong>.{" "}
        {d.prices.overrides.length === 0
          ? "No PRICES overrides are set: every price above is the catalogue's (the mock provider's is built in)."
          : "PRICES overrides, which win over the catalogue (a pattern ending in * covers a family; the longest match wins):"}
      </p>
      {d.prices.overrides.length > 0 && (
        <div class="table-wrap">
          <table class="cards overrides">
            <thead>
              <tr>
                <th scope="col">Pattern</th>
                <th scope="col">Price</th>
              </tr>
            </thead>
            <tbody>
              {d.prices.overrides.map((o) => (
                <tr>
                  <td data-label="Pattern" class="mono">
                    {o.pattern}
                  </td>
                  <td data-label="Price">{priceText(o.price)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
