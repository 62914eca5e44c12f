/** Logs: usage rows newest first, filtered and paged; a row's detail shows every attempt. Never a secret. */
import { useState } from "preact/hooks";
import { ApiError, type CallRecord, type Filters, type StoredBody } from "../api";
import { useConsole } from "../context";
import { entityList, fmtInt, fmtMs, fmtTime, fmtUsd, fromLocalInput } from "../format";
import { useLoad } from "../load";
import { href, type Route } from "../router";
import { OutcomeBadge, PageHead, teamName } from "../ui/bits";
import { Dialog } from "../ui/dialog";
import { FilterForm, ListBody, TimeRangeFields } from "../ui/filters";
import { Pager, usePages } from "../ui/pager";

const PAGE = 50;
const FIELDS = ["key_id", "team_id", "model", "provider", "outcome", "status", "from", "to"] as const;

export function Logs({ route }: { route: Route }) {
  const { admin, dir } = useConsole();
  const p = route.params;
  const filters: Filters = {
    key_id: p.get("key_id") || undefined,
    team_id: p.get("team_id") || undefined,
    model: p.get("model") || undefined,
    provider: p.get("provider") || undefined,
    outcome: p.get("outcome") || undefined,
    status: p.get("status") || undefined,
    from: fromLocalInput(p.get("from") ?? ""),
    to: fromLocalInput(p.get("to") ?? ""),
  };
  const filterKey = FIELDS.map((f) => p.get(f) ?? "").join("|");
  const pages = usePages(filterKey);
  const page = useLoad(() => admin.logs({ ...filters, limit: PAGE, cursor: pages.cursor }), [filterKey, pages.cursor]);
  const [open, setOpen] = useState<CallRecord | null>(null);
  // Refused calls are counts (the refusals table), not rows: read them for the same key, team, status and range.
  const servedFilter = !!(filters.model || filters.provider || filters.outcome);
  const refused = useLoad(
    () => (servedFilter ? Promise.resolve(undefined) : admin.usage({ key_id: filters.key_id, team_id: filters.team_id, status: filters.status, from: filters.from, to: filters.to })),
    [filterKey],
  );

  const keyName = (id: string) => dir.keyById.get(id)?.name ?? id;
  return (
    <>
      <PageHead title="Logs">
        <button type="button" onClick={() => (pages.first(), page.reload())}>
          Refresh
        </button>
      </PageHead>
      <FilterForm page="logs" byKeyAndTeam label="Log filters" fields={FIELDS} keyId={filters.key_id} teamId={filters.team_id}>
        <label>
          Model
          <input name="model" defaultValue={filters.model ?? ""} key={`m${filters.model}`} placeholder="provider/model" />
        </label>
        <label>
          Provider
          <input name="provider" defaultValue={filters.provider ?? ""} key={`p${filters.provider}`} placeholder="any" />
        </label>
        <label>
          Outcome
          <select name="outcome" key={`o${filters.outcome}`}>
            {[["", "Any outcome"], ["ok", "ok"], ["error", "error"], ["aborted", "aborted"]].map(([v, label]) => (
              <option value={v} selected={v === (filters.outcome ?? "")}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <input name="status" type="number" min={100} max={599} inputMode="numeric" defaultValue={filters.status ?? ""} key={`s${filters.status}`} placeholder="any" />
        </label>
        <TimeRangeFields from={filters.from} to={filters.to} />
      </FilterForm>

      <div aria-busy={refused.loading}>
        <Refused usage={refused.data} servedFilter={servedFilter} filters={filters} />
      </div>
      <ListBody load={page} what="logs" rows={page.data?.logs} empty="No calls match." render={(rows) => (
          <table class="cards logs">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Key</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col" class="num">
                  Latency
                </th>
                <th scope="col" class="num">
                  Tokens
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td data-label="Time">{fmtTime(r.ts)}</td>
                  <td data-label="Key">
                    <a href={href("logs", { ...Object.fromEntries(p), key_id: r.key_id })}>{keyName(r.key_id)}</a>
                  </td>
                  <td data-label="Model">
                    {served(r)}
                    {r.fallback_index ? <span class="badge badge-warn">fallback {r.fallback_index}</span> : null}
                  </td>
                  <td data-label="Status">
                    <OutcomeBadge outcome={r.outcome} status={r.status} />
                  </td>
                  <td data-label="Attempts" class="num">
                    {r.attempts.length}
                  </td>
                  <td data-label="Latency" class="num">
                    {fmtMs(r.latency_ms)}
                  </td>
                  <td data-label="Tokens" class="num">
                    {fmtInt(r.tokens.input + r.tokens.output)}
                  </td>
                  <td data-label="Cost" class="num">
                    {fmtUsd(r.cost_usd)}
                    {r.unpriced ? <span class="muted" title={`not priced: ${r.unpriced}`}> (unpriced)</span> : null}
                    {r.cache === "hit" ? <span class="muted" title={`saved ${fmtUsd(r.saved_usd ?? 0)}`}> (cache hit)</span> : null}
                  </td>
                  <td data-label="Detail">
                    <button type="button" onClick={() => setOpen(r)} aria-label={`Details of the call at ${fmtTime(r.ts)}`}>
                      Details
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
      <Pager pages={pages} next={page.data?.next_cursor} />
      {open && <LogDetail row={open} onClose={() => setOpen(null)} />}
    </>
  );
}

/**
 * Calls refused before any provider (limits, budgets, revoked or unknown keys: 429, 402, 403) are not log rows but
 * counts by minute and reason; one line says how many match this filter, with a link to them on the Overview.
 */
function Refused({ usage, servedFilter, filters }: { usage?: { totals: { refused?: number }; refusals?: { status: number; reason: string; refused: number }[] }; servedFilter: boolean; filters: Filters }) {
  if (servedFilter) {
    return (
      <p class="muted note" role="note">
        Refused calls (429, 402, 403 before any provider) are counted, not logged, and have no model, provider or outcome: this filter shows none of
        them. See them on the <a href={href("overview", { key_id: filters.key_id, team_id: filters.team_id })}>Overview</a>.
      </p>
    );
  }
  if (!usage) return null;
  const n = usage.totals.refused ?? 0;
  const reasons = (usage.refusals ?? []).map((r) => `${fmtInt(r.refused)} × ${r.status} ${r.reason}`).join(", ");
  return (
    <p class="muted note" role="note">
      {n === 0 ? "No call matching this filter was refused before reaching a provider." : `${fmtInt(n)} call${n === 1 ? " was" : "s were"} refused before reaching a provider (${reasons}).`}{" "}
      Refusals are counted, not logged as rows:{" "}
      <a href={href("overview", { key_id: filters.key_id, team_id: filters.team_id })}>see them on the Overview</a>.
    </p>
  );
}

const served = (r: CallRecord) => (r.provider ? `${r.provider}/${r.model}` : r.requested_model);

export function LogDetail({ row: r, onClose }: { row: CallRecord; onClose: () => void }) {
  const { dir } = useConsole();
  return (
    <Dialog title="Call detail" onClose={onClose}>
      <CallFacts row={r} keyName={dir.keyById.get(r.key_id)?.name ?? r.key_id} team={teamName(dir.teamById, r.team_id)} />
      <CallBodies requestId={r.request_id} />
    </Dialog>
  );
}

/**
 * The call's request and answer when its key or team stores bodies (`log_bodies`, with the LOG_BUCKET binding):
 * redacted by the gateway before they were stored; a part past the stored limit is its first 256 KiB, marked.
 */
function CallBodies({ requestId }: { requestId: string }) {
  const { admin } = useConsole();
  const body = useLoad(() => admin.body(requestId), [requestId]);
  const e = body.error;
  return (
    <section class="call-bodies" aria-label="Request and answer">
      <h3>Request and answer</h3>
      {body.loading ? (
        <p class="muted">Loading the stored body…</p>
      ) : e instanceof ApiError && e.code === 404 ? (
        <p class="muted">
          No body is stored for this call: its key and team do not set <code>log_bodies</code>, or the call is older than the
          retention (<code>LOG_BODIES_RETENTION_DAYS</code>).
        </p>
      ) : e instanceof ApiError && e.code === 503 ? (
        <p class="muted">Bodies are not stored: the gateway has no <code>LOG_BUCKET</code> binding.</p>
      ) : e ? (
        <p class="error" role="alert">
          {e.message}
        </p>
      ) : body.data ? (
        <>
          <BodyPart label="Request" value={body.data.request} truncated={!!body.data.request_truncated} />
          <BodyPart
            label={body.data.events ? `Answer (${body.data.events} stream events, assembled)` : "Answer"}
            value={body.data.answer}
            truncated={!!body.data.answer_truncated}
          />
          {body.data.note && <p class="muted">{body.data.note}</p>}
        </>
      ) : null}
    </section>
  );
}

function BodyPart({ label, value, truncated }: { label: string; value: StoredBody["request"]; truncated: boolean }) {
  return (
    <>
      <h4>
        {label}
        {truncated && <span class="badge badge-warn">truncated at 256 KiB</span>}
      </h4>
      {value === null ? (
        <p class="muted">none</p>
      ) : (
        <pre class="body-json" aria-label={label} tabIndex={0}>
          {typeof value === "string" ? value : JSON.stringify(value, null, 2)}
        </pre>
      )}
    </>
  );
}

/** Everything a usage row says about one call, attempt by attempt. */
export function CallFacts({ row: r, keyName, team }: { row: CallRecord; keyName: string; team: string }) {
  return (
    <>
      <dl class="facts">
        <dt>Request id</dt>
        <dd class="mono">{r.request_id}</dd>
        <dt>Time</dt>
        <dd>{fmtTime(r.ts)}</dd>
        <dt>Key</dt>
        <dd>
          {keyName} <span class="muted mono small">{r.key_id}</span>
        </dd>
        <dt>Team</dt>
        <dd>{team}</dd>
        <dt>Action</dt>
        <dd>
          {r.action}
          {r.stream ? " (stream)" : ""}
        </dd>
        <dt>Requested</dt>
        <dd class="mono">{r.requested_model}</dd>
        <dt>Served by</dt>
        <dd class="mono">{r.provider ? `${r.provider}/${r.model}` : "nothing (no target answered)"}</dd>
        <dt>Outcome</dt>
        <dd>
          <OutcomeBadge outcome={r.outcome} status={r.status} />
          {r.fallback_index ? ` after ${r.fallback_index} fallback(s)` : ""}
        </dd>
        {r.error && (
          <>
            <dt>Error</dt>
            <dd>{r.error}</dd>
          </>
        )}
        <dt>Latency</dt>
        <dd>
          {fmtMs(r.latency_ms)} total · {fmtMs(r.ttfb_ms)} to first byte
        </dd>
        <dt>Tokens</dt>
        <dd>
          {fmtInt(r.tokens.input)} in ({fmtInt(r.tokens.cached)} cached) · {fmtInt(r.tokens.output)} out · {fmtInt(r.tokens.thinking)} thinking
          {r.tokens.tool_use ? ` · ${fmtInt(r.tokens.tool_use)} tool use` : ""}
        </dd>
        <dt>Cost</dt>
        <dd>
          {fmtUsd(r.cost_usd)}
          {r.unpriced ? ` · not priced: ${r.unpriced} (the cost is short of what the call used; set PRICES)` : ""}
          {r.cache ? ` · cache ${r.cache}${r.cache === "hit" ? `: saved ${fmtUsd(r.saved_usd ?? 0)}` : ""}` : ""}
        </dd>
      </dl>
      {r.guardrails?.length ? <GuardrailFacts row={r} /> : null}
      <h3>Attempts</h3>
      {r.attempts.length === 0 ? (
        <p class="muted">
          No provider was called for this request: the gateway answered it itself (a token count it can estimate, an
          answer from its cache) or stopped it before any target was tried{r.error ? ` (${r.error})` : ""}.
        </p>
      ) : (
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">Result</th>
              <th scope="col" class="num">
                Latency
              </th>
            </tr>
          </thead>
          <tbody>
            {r.attempts.map((a, i) => (
              <tr>
                <td>{i + 1}</td>
                <td class="mono">{a.target}</td>
                <td>{a.skipped ? "skipped" : a.status}</td>
                <td>{a.reason}</td>
                <td class="num">{fmtMs(a.latency_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      )}
    </>
  );
}

/** What each guardrail policy did on the call: its stage, action and what it found (counts, never the text). */
function GuardrailFacts({ row: r }: { row: CallRecord }) {
  return (
    <>
      <h3>Guardrails</h3>
      <div class="table-wrap">
        <table aria-label="Guardrail actions">
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Stage</th>
              <th scope="col">Action</th>
              <th scope="col">Found</th>
              <th scope="col" class="num">
                Judge cost
              </th>
            </tr>
          </thead>
          <tbody>
            {r.guardrails!.map((g) => (
              <tr>
                <td class="mono">{g.policy}</td>
                <td>{g.stage}</td>
                <td>{Object.keys(g.entities).length ? g.action : "none (judged safe)"}</td>
                <td>{entityList(g.entities)}</td>
                <td class="num">{g.cost_usd ? fmtUsd(g.cost_usd) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
