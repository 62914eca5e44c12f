/**
 * The filter form of a list page (logs, resources, audit): key and team when the page filters by them, the page's own
 * fields, apply and clear.
 */
import type { ComponentChildren } from "preact";
import { useConsole } from "../context";
import { toLocalInput } from "../format";
import { href, navigate, type Page } from "../router";
import { KeyOptions, Loading, TeamOptions } from "./bits";
import { ErrorNote } from "./dialog";

export function FilterForm(props: {
  page: Page;
  label: string;
  /** Every field of the form, in the order they go to the address. */
  fields: readonly string[];
  /** Offer the key and team selectors (the rows the page lists belong to a key). */
  byKeyAndTeam?: boolean;
  keyId?: string;
  teamId?: string;
  children: ComponentChildren;
}) {
  return (
    <form
      class="filters"
      aria-label={props.label}
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        navigate(props.page, Object.fromEntries(props.fields.map((n) => [n, String(f.get(n) ?? "").trim()])));
      }}
    >
      {props.byKeyAndTeam && <KeyTeamFields keyId={props.keyId} teamId={props.teamId} />}
      {props.children}
      <div class="filter-buttons">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <a href={href(props.page)}>Clear</a>
      </div>
    </form>
  );
}

function KeyTeamFields(props: { keyId?: string; teamId?: string }) {
  const { dir } = useConsole();
  return (
    <>
      <label>
        Key
        <select name="key_id" key={`k${props.keyId}`}>
          <KeyOptions keys={dir.keys} known={dir.keyById} selected={props.keyId} />
        </select>
      </label>
      <label>
        Team
        <select name="team_id" key={`t${props.teamId}`}>
          <TeamOptions teams={dir.teams} none="All teams" selected={props.teamId} />
        </select>
      </label>
    </>
  );
}

/** `from` and `to` (ms since the epoch, or unset) as two UTC date-time inputs named for the address. */
export function TimeRangeFields(props: { from?: number; to?: number }) {
  return (
    <>
      <label>
        From (UTC)
        <input name="from" type="datetime-local" defaultValue={toLocalInput(props.from)} key={`f${props.from}`} />
      </label>
      <label>
        To (UTC)
        <input name="to" type="datetime-local" defaultValue={toLocalInput(props.to)} key={`u${props.to}`} />
      </label>
    </>
  );
}

/**
 * A list page's body: the API's refusal if the read failed, "Loading…" until the first page is in, `empty` when no
 * row matches, else the table `render` makes of the rows.
 */
export function ListBody<T>(props: {
  load: { error?: Error; loading: boolean; reload?: () => void };
  what: string;
  rows: T[] | undefined;
  empty: string;
  render: (rows: T[]) => ComponentChildren;
}) {
  const { load, what, rows } = props;
  return (
    <>
      {load.error && <ErrorNote error={load.error} prefix={`Could not read ${what}`} retry={load.reload} />}
      <div aria-busy={load.loading}>
        {!rows ? !load.error && <Loading what={what} /> : rows.length === 0 ? <p class="muted">{props.empty}</p> : <div class="table-wrap">{props.render(rows)}</div>}
      </div>
    </>
  );
}
