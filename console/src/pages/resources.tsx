/**
 * Resources: the files, context caches, batches and long-running operations keys created through the gateway, who
 * owns each one, newest first, filtered and paged (GET /admin/resources). Deleted ones stay listed with their state.
 */
import { useState } from "preact/hooks";
import { RESOURCE_KINDS, type ResourceView } from "../api";
import { useConsole } from "../context";
import { fmtInt, fmtTime } from "../format";
import { useLoad } from "../load";
import { href, navigate, type Route } from "../router";
import { Loading, TeamOptions, teamName } from "../ui/bits";
import { ErrorNote } from "../ui/dialog";

const PAGE = 50;
const FIELDS = ["key_id", "team_id", "kind"] as const;
const KIND_LABEL: Record<ResourceView["kind"], string> = { file: "File", cachedContent: "Cache", batch: "Batch", operation: "Operation" };

export function Resources({ route }: { route: Route }) {
  const { admin, dir } = useConsole();
  const p = route.params;
  const kind = p.get("kind") || undefined;
  const filters = {
    key_id: p.get("key_id") || undefined,
    team_id: p.get("team_id") || undefined,
    kind: kind && (RESOURCE_KINDS as readonly string[]).includes(kind) ? kind : undefined,
  };
  const filterKey = FIELDS.map((f) => p.get(f) ?? "").join("|");
  // Cursors of the pages before this one (newest first): "Newer" pops, "Older" pushes.
  const [pages, setPages] = useState<{ filterKey: string; cursors: (string | undefined)[] }>({ filterKey, cursors: [undefined] });
  const cursors = pages.filterKey === filterKey ? pages.cursors : [undefined];
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => admin.resources({ ...filters, limit: PAGE, cursor }), [filterKey, cursor]);
  const keyName = (id: string) => dir.keyById.get(id)?.name ?? id;

  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Resources</h1>
        <button type="button" onClick={() => (setPages({ filterKey, cursors: [undefined] }), page.reload())}>
          Refresh
        </button>
      </div>
      <p class="muted">
        Files, caches, batches and video operations created through the gateway. Each belongs to the key that created
        it: no other key sees it (a team's keys share the ones created under <span class="mono">resource_scope</span>{" "}
        <span class="mono">team</span>).
      </p>
      <form
        class="filters"
        aria-label="Resource filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          navigate("resources", Object.fromEntries(FIELDS.map((n) => [n, String(f.get(n) ?? "").trim()])));
        }}
      >
        <label>
          Key
          <select name="key_id" key={`k${filters.key_id}`}>
            <option value="">All keys</option>
            {dir.keys.map((k) => (
              <option value={k.id} selected={k.id === filters.key_id}>
                {k.name}
              </option>
            ))}
            {filters.key_id && !dir.keyById.has(filters.key_id) && (
              <option value={filters.key_id} selected>
                {filters.key_id}
              </option>
            )}
          </select>
        </label>
        <label>
          Team
          <select name="team_id" key={`t${filters.team_id}`}>
            <TeamOptions teams={dir.teams} none="All teams" selected={filters.team_id} />
          </select>
        </label>
        <label>
          Kind
          <select name="kind" key={`c${filters.kind}`}>
            <option value="">Any kind</option>
            {RESOURCE_KINDS.map((k) => (
              <option value={k} selected={k === filters.kind}>
                {KIND_LABEL[k]}
              </option>
            ))}
          </select>
        </label>
        <div class="filter-buttons">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <a href={href("resources")}>Clear</a>
        </div>
      </form>

      {page.error && <ErrorNote error={page.error} prefix="Could not read resources" />}
      <div aria-busy={page.loading}>
        {!page.data ? (
          <Loading what="resources" />
        ) : page.data.resources.length === 0 ? (
          <p class="muted">No resources match.</p>
        ) : (
          <div class="table-wrap">
            <table class="cards resources">
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Name</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Team</th>
                  <th scope="col">Model</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">
                    Size
                  </th>
                  <th scope="col">Finished</th>
                </tr>
              </thead>
              <tbody>
                {page.data.resources.map((r) => (
                  <tr>
                    <td data-label="Created">{fmtTime(r.created_at)}</td>
                    <td data-label="Kind">{KIND_LABEL[r.kind] ?? r.kind}</td>
                    <td data-label="Name" class="mono">
                      {r.name}
                    </td>
                    <td data-label="Owner">
                      <a href={href("logs", { key_id: r.key_id })} title="This key's calls">
                        {keyName(r.key_id)}
                      </a>
                    </td>
                    <td data-label="Team">
                      {teamName(dir.teamById, r.team_id)}
                      {r.shared ? <span class="badge">shared</span> : null}
                    </td>
                    <td data-label="Model" class="mono">
                      {r.model ?? "—"}
                    </td>
                    <td data-label="State">{r.state}</td>
                    <td data-label="Size" class="num">
                      {r.size_bytes !== undefined ? `${fmtInt(r.size_bytes)} B` : r.requests !== undefined ? `${fmtInt(r.requests)} requests` : "—"}
                    </td>
                    <td data-label="Finished">{r.finished_at ? fmtTime(r.finished_at) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setPages({ filterKey, cursors: cursors.slice(0, -1) })}>
          ← Newer
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button type="button" disabled={!page.data?.next_cursor} onClick={() => setPages({ filterKey, cursors: [...cursors, page.data!.next_cursor] })}>
          Older →
        </button>
      </nav>
    </>
  );
}
