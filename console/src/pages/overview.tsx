/** Overview: requests, errors, tokens and cost over time; top keys, teams and models by spend; budget use. */
import { useMemo } from "preact/hooks";
import type { Filters, GuardrailUse, Latency, Quantiles, Usage, UsageGroup } from "../api";
import { budgetUse, periodLabel } from "../budget";
import { useConsole } from "../context";
import { entityList, fmtCompact, fmtInt, fmtMs, fmtTime, fmtUsd } from "../format";
import { useLoad } from "../load";
import { href, navigate, type Route } from "../router";
import { BudgetMeter, Loading, TeamOptions, teamName } from "../ui/bits";
import { TimeChart } from "../ui/chart";
import { ErrorNote } from "../ui/dialog";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RANGES: Record<string, { label: string; days: number; bucket: "hour" | "day" }> = {
  "24h": { label: "Last 24 hours", days: 1, bucket: "hour" },
  "7d": { label: "Last 7 days", days: 7, bucket: "hour" },
  "30d": { label: "Last 30 days", days: 30, bucket: "day" },
  "90d": { label: "Last 90 days", days: 90, bucket: "day" },
};

/** Bucket starts from the start of the range to now, aligned to UTC hours or days (the API's buckets). */
export function bucketsFor(range: string, bucket: "hour" | "day", now: number): number[] {
  const size = bucket === "hour" ? HOUR : DAY;
  const days = RANGES[range]!.days;
  const last = now - (now % size);
  const first = bucket === "hour" ? last - (days * 24 - 1) * HOUR : last - (days - 1) * DAY;
  const out: number[] = [];
  for (let t = first; t <= last; t += size) out.push(t);
  return out;
}

const usdAxis = (n: number) => fmtUsd(n);

export function Overview({ route }: { route: Route }) {
  const { admin, dir } = useConsole();
  const p = route.params;
  const range = RANGES[p.get("range") ?? ""] ? p.get("range")! : "24h";
  const bucket = p.get("bucket") === "day" || p.get("bucket") === "hour" ? (p.get("bucket") as "hour" | "day") : RANGES[range]!.bucket;
  const filters: Filters = {
    team_id: p.get("team_id") || undefined,
    key_id: p.get("key_id") || undefined,
    model: p.get("model") || undefined,
    provider: p.get("provider") || undefined,
  };
  const set = (name: string, value: string) => {
    const next: Record<string, string> = Object.fromEntries(p);
    next[name] = value;
    if (name === "range") delete next.bucket;
    navigate("overview", next);
  };

  // The range is fixed when the filters change (and on Refresh), so every read below covers the same buckets.
  const key = route.params.toString();
  const loaded = useLoad(async () => {
    const now = Date.now();
    const times = bucketsFor(range, bucket, now);
    const f = { ...filters, from: times[0] };
    const [series, byKey, byTeam, byModel, models, byProvider, latency, guardrails] = await Promise.all([
      admin.usage({ ...f, group_by: bucket }),
      admin.usage({ ...f, group_by: "key" }),
      admin.usage({ ...f, group_by: "team" }),
      admin.usage({ ...f, group_by: "model" }),
      // The model and provider choices: what served in the range, whatever the other filters.
      admin.usage({ from: times[0], group_by: "model" }),
      admin.usage({ ...f, group_by: "provider" }),
      admin.latency({ ...f, group_by: bucket }),
      admin.guardrailsUsage(f),
    ]);
    return { now, times, series, byKey, byTeam, byModel, models, byProvider, latency, guardrails: guardrails.policies };
  }, [key]);

  const budgets = useLoad(() => budgetUse(admin, dir.keys, dir.teams), [dir]);
  const d = loaded.data;
  const keysInTeam = filters.team_id ? dir.keys.filter((k) => k.team_id === filters.team_id) : dir.keys;
  const modelNames = (d?.models.groups ?? []).map((g) => g.model).filter((m): m is string => !!m);
  const providers = [...new Set(modelNames.map((m) => m.split("/")[0]!))];

  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      <form class="filters" aria-label="Overview filters" onSubmit={(e) => (e.preventDefault(), loaded.reload(), budgets.reload())}>
        <label>
          Time range
          <select value={range} onChange={(e) => set("range", e.currentTarget.value)}>
            {Object.entries(RANGES).map(([v, r]) => (
              <option value={v}>{r.label}</option>
            ))}
          </select>
        </label>
        <label>
          Per
          <select value={bucket} onChange={(e) => set("bucket", e.currentTarget.value)}>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </label>
        <label>
          Team
          <select value={filters.team_id ?? ""} onChange={(e) => set("team_id", e.currentTarget.value)}>
            <TeamOptions teams={dir.teams} none="All teams" />
          </select>
        </label>
        <label>
          Key
          <select value={filters.key_id ?? ""} onChange={(e) => set("key_id", e.currentTarget.value)}>
            <option value="">All keys</option>
            {keysInTeam.map((k) => (
              <option value={k.id}>{k.name}</option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select value={filters.model ?? ""} onChange={(e) => set("model", e.currentTarget.value)}>
            <option value="">All models</option>
            {[...new Set([...modelNames, ...(filters.model ? [filters.model] : [])])].map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Provider
          <select value={filters.provider ?? ""} onChange={(e) => set("provider", e.currentTarget.value)}>
            <option value="">All providers</option>
            {[...new Set([...providers, ...(filters.provider ? [filters.provider] : [])])].map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <button type="submit">Refresh</button>
      </form>

      {loaded.error && <ErrorNote error={loaded.error} prefix="Could not read usage" retry={loaded.reload} />}
      <div aria-busy={loaded.loading}>
        {!d ? !loaded.error && <Loading what="usage" /> : <OverviewData d={d} bucket={bucket} rangeLabel={RANGES[range]!.label} />}
      </div>

      <section aria-labelledby="budgets-h" aria-busy={budgets.loading}>
        <h2 id="budgets-h">Budget use, current period</h2>
        {budgets.error && <ErrorNote error={budgets.error} prefix="Could not read budget use" retry={budgets.reload} />}
        {!budgets.data ? (
          !budgets.error && <Loading what="budgets" />
        ) : budgets.data.length === 0 ? (
          <p class="muted">No key or team has a budget. Set one on the Keys or Teams page.</p>
        ) : (
          <div class="table-wrap" tabIndex={0} role="region" aria-label="Budget use">
            <table>
              <thead>
                <tr>
                  <th scope="col">Key or team</th>
                  <th scope="col">Budget</th>
                  <th scope="col">Used</th>
                  <th scope="col">Resets</th>
                </tr>
              </thead>
              <tbody>
                {[...budgets.data]
                  .sort((a, b) => b.spent / (b.max_usd || 1e-9) - a.spent / (a.max_usd || 1e-9))
                  .map((b) => (
                    <tr>
                      <td>
                        <span class="muted">{b.subject}</span>{" "}
                        <a href={b.subject === "key" ? href("keys", { q: b.id }) : href("teams", { id: b.id })}>{b.name}</a>
                      </td>
                      <td>
                        {fmtUsd(b.max_usd)} {periodLabel(b.period)}
                      </td>
                      <td>
                        <BudgetMeter spent={b.spent} max={b.max_usd} />
                      </td>
                      <td>{b.resets ? fmtTime(b.resets, false) : "never"}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

type Loaded = { times: number[]; series: Usage; byKey: Usage; byTeam: Usage; byModel: Usage; byProvider: Usage; latency: Latency; guardrails: GuardrailUse[] };

const quantiles = (q: Quantiles) => (q.count ? `p50 ${fmtMs(q.p50_ms)} · p95 ${fmtMs(q.p95_ms)}` : "no calls");

function OverviewData({ d, bucket, rangeLabel }: { d: Loaded; bucket: "hour" | "day"; rangeLabel: string }) {
  const { dir } = useConsole();
  const t = d.series.totals;
  const charts = useMemo(() => {
    const at = new Map((d.series.groups ?? []).map((g) => [Date.parse(bucket === "day" ? `${g.day}T00:00:00Z` : g.hour!), g]));
    const col = (f: (g: UsageGroup) => number) => d.times.map((x) => (at.has(x) ? f(at.get(x)!) : 0));
    return {
      requests: [
        { label: "requests", values: col((g) => g.requests), color: "--chart-1", bars: true },
        { label: "errors", values: col((g) => g.errors), color: "--chart-err", bars: true },
      ],
      tokens: [
        { label: "input tokens", values: col((g) => g.input_tokens), color: "--chart-1" },
        { label: "output tokens", values: col((g) => g.output_tokens), color: "--chart-2" },
      ],
      cost: [{ label: "cost (USD)", values: col((g) => g.cost_usd), color: "--chart-3", bars: true }],
      ...latencyCharts(d, bucket),
    };
  }, [d, bucket]);
  const errorRate = t.requests ? Math.round((t.errors / t.requests) * 1000) / 10 : 0;

  return (
    <>
      <section aria-label={`Totals, ${rangeLabel}`} class="tiles">
        <div class="tile">
          <span class="tile-label">Requests</span>
          <span class="tile-value">{fmtInt(t.requests)}</span>
        </div>
        <div class="tile">
          <span class="tile-label">Errors</span>
          <span class="tile-value">{fmtInt(t.errors)}</span>
          <span class="muted">
            {errorRate}% · {fmtInt(t.aborted)} aborted · {fmtInt(t.refused ?? 0)} refused
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">Tokens</span>
          <span class="tile-value">{fmtCompact(t.input_tokens + t.output_tokens)}</span>
          <span class="muted">
            {fmtCompact(t.input_tokens)} in · {fmtCompact(t.output_tokens)} out
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">Cost</span>
          <span class="tile-value">{fmtUsd(t.cost_usd)}</span>
          {t.unpriced_calls ? <span class="muted">{fmtInt(t.unpriced_calls)} calls not fully priced</span> : null}
        </div>
        <div class="tile">
          <span class="tile-label">Latency, p50</span>
          <span class="tile-value">{fmtMs(d.latency.latency.p50_ms)}</span>
          <span class="muted">
            p95 {fmtMs(d.latency.latency.p95_ms)} · first byte {quantiles(d.latency.ttfb)}
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">Cache hits</span>
          <span class="tile-value">{fmtInt(t.cache_hits ?? 0)}</span>
          <span class="muted">{fmtUsd(t.saved_usd ?? 0)} saved</span>
        </div>
        <div class="tile">
          <span class="tile-label">Guardrail actions</span>
          <span class="tile-value">{fmtInt(t.guardrail_actions ?? 0)}</span>
          <span class="muted">{guardrailSummary(d.guardrails)}</span>
        </div>
      </section>
      {d.guardrails.length ? <GuardrailTable rows={d.guardrails} /> : null}
      {d.series.refusals?.length ? (
        <p class="muted">
          Refused before reaching a provider:{" "}
          {d.series.refusals.map((r) => `${fmtInt(r.refused)} × ${r.status} ${r.reason}`).join(", ")}.
        </p>
      ) : null}
      {d.series.pending_rows ? (
        <p class="muted" role="status">
          {fmtInt(d.series.pending_rows)} usage row(s) are still on their way to the log and not counted yet.
        </p>
      ) : null}
      <div class="charts">
        <TimeChart title="Requests and errors" times={d.times} series={charts.requests} format={fmtCompact} bucket={bucket} />
        <TimeChart title="Tokens" times={d.times} series={charts.tokens} format={fmtCompact} bucket={bucket} />
        <TimeChart title="Cost" times={d.times} series={charts.cost} format={usdAxis} bucket={bucket} />
        <TimeChart title="Latency" times={d.times} series={charts.latency} format={msAxis} bucket={bucket} />
        <TimeChart title="Time to first byte" times={d.times} series={charts.ttfb} format={msAxis} bucket={bucket} />
      </div>
      <ErrorsByProvider groups={d.byProvider.groups} />
      <div class="tops">
        <Top
          title="Top keys by spend"
          groups={d.byKey.groups}
          name={(g) => dir.keyById.get(g.key_id!)?.name ?? g.key_id!}
          link={(g) => href("logs", { key_id: g.key_id })}
        />
        <Top
          title="Top teams by spend"
          groups={d.byTeam.groups}
          name={(g) => (g.team_id ? teamName(dir.teamById, g.team_id) : "no team")}
          link={(g) => (g.team_id ? href("teams", { id: g.team_id }) : undefined)}
        />
        <Top title="Top models by spend" groups={d.byModel.groups} name={(g) => g.model ?? "none served"} link={(g) => (g.model ? href("logs", { model: g.model }) : undefined)} />
      </div>
    </>
  );
}

const msAxis = (n: number) => fmtMs(Math.round(n));

/** p50 and p95 per bucket (a gap where no call was made), with the range's figures as the legend's summary. */
function latencyCharts(d: Loaded, bucket: "hour" | "day") {
  const at = new Map((d.latency.groups ?? []).map((g) => [Date.parse(bucket === "day" ? `${g.day}T00:00:00Z` : g.hour!), g]));
  const col = (f: (g: { latency: Quantiles; ttfb: Quantiles }) => number | null) => d.times.map((x) => (at.has(x) ? f(at.get(x)!) : null));
  const pair = (which: "latency" | "ttfb") => [
    { label: "p50", values: col((g) => g[which].p50_ms), color: "--chart-1", summary: fmtMs(d.latency[which].p50_ms) },
    { label: "p95", values: col((g) => g[which].p95_ms), color: "--chart-2", summary: fmtMs(d.latency[which].p95_ms) },
  ];
  return { latency: pair("latency"), ttfb: pair("ttfb") };
}

/** Errors by the provider that answered (none: no provider was reached, e.g. every target refused at once). */
function ErrorsByProvider({ groups }: { groups?: UsageGroup[] }) {
  const rows = (groups ?? []).filter((g) => g.requests > 0).sort((a, b) => b.errors - a.errors || b.requests - a.requests);
  return (
    <section class="top" aria-labelledby="errors-provider-h">
      <h2 id="errors-provider-h">Errors by provider</h2>
      {rows.length === 0 ? (
        <p class="muted">No calls in this range.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col" class="num">
                  Requests
                </th>
                <th scope="col" class="num">
                  Errors
                </th>
                <th scope="col" class="num">
                  Error rate
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((g) => (
                <tr>
                  <td>{g.provider ? <a href={href("logs", { provider: g.provider, outcome: "error" })}>{g.provider}</a> : "none reached"}</td>
                  <td class="num">{fmtInt(g.requests)}</td>
                  <td class="num">{fmtInt(g.errors)}</td>
                  <td class="num">{Math.round((g.errors / g.requests) * 1000) / 10}%</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Top(props: { title: string; groups?: UsageGroup[]; name: (g: UsageGroup) => string; link: (g: UsageGroup) => string | undefined }) {
  const rows = (props.groups ?? []).slice(0, 5);
  return (
    <section class="top" aria-label={props.title}>
      <h2>{props.title}</h2>
      {rows.length === 0 ? (
        <p class="muted">No calls in this range.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" class="num">
                Requests
              </th>
              <th scope="col" class="num">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((g) => {
              const link = props.link(g);
              return (
                <tr>
                  <td>{link ? <a href={link}>{props.name(g)}</a> : props.name(g)}</td>
                  <td class="num">{fmtInt(g.requests)}</td>
                  <td class="num">{fmtUsd(g.cost_usd)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The tile's line: blocks, redactions and flags in the range. */
function guardrailSummary(rows: GuardrailUse[]): string {
  if (!rows.length) return "no policy acted";
  const by = { block: 0, redact: 0, flag: 0 } as Record<string, number>;
  for (const r of rows) by[r.action] = (by[r.action] ?? 0) + r.actions;
  return `${fmtInt(by.block!)} blocked · ${fmtInt(by.redact!)} redacted · ${fmtInt(by.flag!)} flagged`;
}

/** What each guardrail policy did in the range, by stage and action, with what it found (never the text). */
function GuardrailTable({ rows }: { rows: GuardrailUse[] }) {
  return (
    <section aria-label="Guardrail actions by policy">
      <h2>Guardrails</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Stage</th>
              <th scope="col">Action</th>
              <th scope="col" class="num">
                Calls
              </th>
              <th scope="col">Found</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr>
                <td class="mono">{r.policy}</td>
                <td>{r.stage}</td>
                <td>{r.action}</td>
                <td class="num">{fmtInt(r.actions)}</td>
                <td>{entityList(r.entities)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
