/**
 * Audit: every admin write, newest first (GET /admin/audit): who, when, what, on which record, and each changed
 * field before → after. Filters are the API's (actor, action or kind, target, time range), paged by its cursor.
 * The API never puts a secret or hash in a row, so nothing here can show one.
 */
import type { AuditEntry } from "../api";
import { useConsole } from "../context";
import { fmtTime, fromLocalInput } from "../format";
import { useLoad } from "../load";
import { href, type Route } from "../router";
import { FilterForm, ListBody, TimeRangeFields } from "../ui/filters";
import { Pager, usePages } from "../ui/pager";
import { PageHead } from "../ui/bits";

const PAGE = 50;
const FIELDS = ["actor", "action", "target", "from", "to"] as const;
/** The API's actions (src/audit/trail.ts ACTIONS) and kinds. */
const ACTIONS = ["key", "key.create", "key.update", "key.revoke", "key.rotate", "team", "team.create", "team.update", "team.delete", "token", "token.create", "token.delete", "cache.clear"];

export function Audit({ route }: { route: Route }) {
  const { admin, dir } = useConsole();
  const p = route.params;
  const text = (f: string) => p.get(f)?.trim() || undefined;
  const filters = { actor: text("actor"), action: text("action"), target: text("target"), from: fromLocalInput(p.get("from") ?? ""), to: fromLocalInput(p.get("to") ?? "") };
  const filterKey = FIELDS.map((f) => p.get(f) ?? "").join("|");
  const pages = usePages(filterKey);
  const page = useLoad(() => admin.audit({ ...filters, limit: PAGE, cursor: pages.cursor }), [filterKey, pages.cursor]);
  // A target's name when the console knows the record (keys and teams).
  const targetName = (id: string) => dir.keyById.get(id)?.name ?? dir.teamById.get(id)?.name;
  return (
    <>
      <PageHead title="Audit">
        <button type="button" onClick={() => (pages.first(), page.reload())}>
          Refresh
        </button>
      </PageHead>
      <p class="muted">Every admin write: keys, teams, tokens and cache clears. Secrets are never recorded.</p>
      <FilterForm page="audit" label="Audit filters" fields={FIELDS}>
        <label>
          Actor
          <input name="actor" defaultValue={filters.actor ?? ""} key={`a${filters.actor}`} placeholder="root, token id or name" />
        </label>
        <label>
          Action
          <select name="action" key={`c${filters.action}`}>
            <option value="">Any action</option>
            {ACTIONS.map((a) => (
              <option value={a} selected={a === filters.action}>
                {a.includes(".") ? a : `any ${a} action`}
              </option>
            ))}
          </select>
        </label>
        <label>
          Target
          <input name="target" defaultValue={filters.target ?? ""} key={`t${filters.target}`} placeholder="record id" />
        </label>
        <TimeRangeFields from={filters.from} to={filters.to} />
      </FilterForm>
      <ListBody load={page} what="the audit trail" rows={page.data?.entries} empty="No admin write matches." render={(rows) => (
          <table class="cards audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td data-label="Time">{fmtTime(r.at)}</td>
                  <td data-label="Who">
                    <a href={href("audit", { actor: r.actor.id })}>{r.actor.name}</a>
                    {r.actor.role !== "root" && <span class="muted small"> {r.actor.role}</span>}
                  </td>
                  <td data-label="Action" class="mono">
                    {r.action}
                  </td>
                  <td data-label="Target">
                    {targetName(r.target) && <span class="name">{targetName(r.target)} </span>}
                    <a class="mono small" href={href("audit", { target: r.target })}>
                      {r.target}
                    </a>
                  </td>
                  <td data-label="Changes">
                    <Changes changes={r.changes} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
      <Pager pages={pages} next={page.data?.next_cursor} />
    </>
  );
}

const show = (v: unknown) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));

/** Each changed field: its value before → after (— for none: a created or deleted record). */
function Changes({ changes }: { changes: AuditEntry["changes"] }) {
  const fields = Object.entries(changes ?? {});
  if (!fields.length) return <span class="muted">no field changed</span>;
  return (
    <dl class="changes">
      {fields.map(([f, c]) => (
        <>
          <dt class="mono">{f}</dt>
          <dd class="mono small">
            <span class="before">{show(c.before)}</span> → <span class="after">{show(c.after)}</span>
          </dd>
        </>
      ))}
    </dl>
  );
}
