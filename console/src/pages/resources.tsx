/**
 * Resources: the files, context caches, batches and long-running operations keys created through the gateway, who
 * owns each one, newest first, filtered and paged (GET /admin/resources). Deleted ones stay listed with their state.
 */
import { RESOURCE_KINDS, type ResourceView } from "../api";
import { useConsole } from "../context";
import { fmtInt, fmtTime } from "../format";
import { useLoad } from "../load";
import { href, type Route } from "../router";
import { PageHead, teamName } from "../ui/bits";
import { FilterForm, ListBody } from "../ui/filters";
import { Pager, usePages } from "../ui/pager";

const PAGE = 50;
const FIELDS = ["key_id", "team_id", "kind"] as const;
const COLUMNS = ["Created", "Kind", "Name", "Owner", "Team", "Model", "State", "Size", "Finished"];
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
  const pages = usePages(filterKey);
  const page = useLoad(() => admin.resources({ ...filters, limit: PAGE, cursor: pages.cursor }), [filterKey, pages.cursor]);
  const keyName = (id: string) => dir.keyById.get(id)?.name ?? id;

  return (
    <>
      <PageHead title="Resources">
        <button type="button" onClick={() => (pages.first(), page.reload())}>
          Refresh
        </button>
      </PageHead>
      <p class="muted">
        Files, caches, batches and video operations created through the gateway. Each belongs to the key that created
        it: no other key sees it (a team's keys share the ones created under <span class="mono">resource_scope</span>{" "}
        <span class="mono">team</span>).
      </p>
      <FilterForm page="resources" byKeyAndTeam label="Resource filters" fields={FIELDS} keyId={filters.key_id} teamId={filters.team_id}>
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
      </FilterForm>

      <ListBody load={page} what="resources" rows={page.data?.resources} empty="No resources match." render={(rows) => (
          <table class="cards resources">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th scope="col" class={c === "Size" ? "num" : undefined}>
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
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
        )}
      />
      <Pager pages={pages} next={page.data?.next_cursor} />
    </>
  );
}
