/** Teams: shared limits and a budget over their keys; each team with its keys and their spend. */
import { useMemo, useState } from "preact/hooks";
import { ApiError, type KeyRecord, type TeamFields, type TeamRecord } from "../api";
import { budgetUse, periodLabel } from "../budget";
import { useConsole } from "../context";
import { fmtInt, fmtTime, fmtUsd } from "../format";
import { useLoad } from "../load";
import { href, navigate, type Route } from "../router";
import { BudgetMeter, keyStatus, Loading, PageHead } from "../ui/bits";
import { Confirm, Dialog, ErrorNote } from "../ui/dialog";
import { BudgetFields, budgetFrom, FieldError, FormError, LimitFields, LogBodiesField, logBodiesFrom, rateLimitFrom, useAction } from "../ui/form";
import { KeyModal, KeyTable, limits, useKeySpend, type KeyModalState } from "./keys";

type Modal = { kind: "create" } | { kind: "edit"; team: TeamRecord } | { kind: "delete"; team: TeamRecord };
const DAY = 86_400_000;
const NO_KEYS: KeyRecord[] = [];

export function Teams({ route }: { route: Route }) {
  const { admin, dir, dirLoading, dirError, reloadDir, may } = useConsole();
  const [modal, setModal] = useState<Modal | null>(null);
  const [keyModal, setKeyModal] = useState<KeyModalState | null>(null);
  const selected = route.params.get("id");
  // Spend over the last 30 days per team and per key, and each budget's use in its current period.
  const spend = useLoad(async () => {
    // A team admin reads no usage: no spend, no budget meters.
    if (!may.readGlobal) return undefined;
    const from = Date.now() - 30 * DAY;
    const [teams, keys, budgets] = await Promise.all([
      admin.usage({ group_by: "team", from }),
      admin.usage({ group_by: "key", from }),
      budgetUse(admin, [], dir.teams),
    ]);
    return {
      team: new Map((teams.groups ?? []).map((g) => [String(g.team_id), g.cost_usd])),
      key: new Map((keys.groups ?? []).map((g) => [String(g.key_id), g.cost_usd])),
      budget: new Map(budgets.map((b) => [b.id, b])),
    };
  }, [dir]);
  const team = selected ? dir.teamById.get(selected) : undefined;
  // One array per directory and team, so the spend read below runs once per change, not once per render.
  const teamKeys = useMemo(() => (team ? dir.keys.filter((k) => k.team_id === team.id) : NO_KEYS), [dir, team?.id]);
  const keySpend = useKeySpend(teamKeys);

  return (
    <>
      <PageHead title="Teams">
        {may.writeTeams && (
          <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
            New team
          </button>
        )}
      </PageHead>
      {dirError && <ErrorNote error={dirError} prefix="Could not read teams" retry={reloadDir} />}
      {spend.error && <ErrorNote error={spend.error} prefix="Could not read spend" retry={spend.reload} />}
      {dirLoading && !dir.teams.length && !dirError ? (
        <Loading what="teams" />
      ) : !dir.teams.length ? (
        <p class="muted">No teams yet. A team shares rate limits and a budget over its keys.</p>
      ) : (
        <div class="table-wrap" aria-busy={spend.loading}>
          <table class="cards">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Keys</th>
                <th scope="col">Limits</th>
                <th scope="col">Budget</th>
                {may.readGlobal && <th scope="col">Spend, 30 days</th>}
                <th scope="col">Created</th>
                {may.writeTeams && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {dir.teams.map((t) => {
                const keys = dir.keys.filter((k) => k.team_id === t.id);
                const usable = keys.filter((k) => keyStatus(k) !== "revoked").length;
                const b = spend.data?.budget.get(t.id);
                return (
                  <tr aria-current={t.id === selected ? "true" : undefined}>
                    <th scope="row" data-label="Name">
                      <a href={href("teams", { id: t.id })} class="name">
                        {t.name}
                      </a>
                      <span class="muted mono small">{t.id}</span>
                    </th>
                    <td data-label="Keys">
                      <a href={href("keys", { team_id: t.id })}>
                        {fmtInt(usable)} key{usable === 1 ? "" : "s"}
                      </a>
                      {keys.length > usable ? <span class="muted"> (+{keys.length - usable} revoked)</span> : null}
                    </td>
                    <td data-label="Limits">{limits(t.rate_limit)}</td>
                    <td data-label="Budget">
                      {t.budget ? (
                        <>
                          {fmtUsd(t.budget.max_usd)} {periodLabel(t.budget.period)}
                          {b && <BudgetMeter spent={b.spent} max={b.max_usd} />}
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                    {may.readGlobal && <td data-label="Spend, 30 days">{spend.data ? fmtUsd(spend.data.team.get(t.id) ?? 0) : "…"}</td>}
                    <td data-label="Created">{fmtTime(t.created_at, false)}</td>
                    {may.writeTeams && (
                      <td data-label="Actions">
                        <span class="row-actions">
                          <button type="button" onClick={() => setModal({ kind: "edit", team: t })} aria-label={`Edit ${t.name}`}>
                            Edit
                          </button>
                          <button type="button" class="danger" onClick={() => setModal({ kind: "delete", team: t })} aria-label={`Delete ${t.name}`}>
                            Delete
                          </button>
                        </span>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {selected && !team && !dirLoading && <p class="error" role="alert">No team with id {selected}.</p>}
      {team && (
        <section aria-labelledby="team-h" class="detail">
          <h2 id="team-h">
            Team “{team.name}”: keys <span class="muted small">({team.id})</span>
          </h2>
          <p class="detail-links">
            {may.readGlobal && (
              <>
                <a href={href("overview", { team_id: team.id })}>Usage over time</a> · <a href={href("logs", { team_id: team.id })}>Logs</a>
              </>
            )}
            {may.writeKeys && (
              <button type="button" class="primary" onClick={() => setKeyModal({ kind: "create", team_id: team.id })}>
                New key in this team
              </button>
            )}
          </p>
          <KeyTable keys={teamKeys} spend={may.readGlobal ? (spend.data?.key ?? new Map()) : undefined} budgets={keySpend.data?.budgets} onAction={setKeyModal} inTeam busy={spend.loading || keySpend.loading} />
        </section>
      )}
      {modal && <TeamModal modal={modal} close={() => setModal(null)} />}
      {keyModal && <KeyModal modal={keyModal} setModal={setKeyModal} />}
    </>
  );
}

/** The API names keys by id; the console knows their names: "key_… (“name”)". */
function withKeyNames(e: Error | undefined, names: Map<string, { name: string }>): Error | undefined {
  if (!e) return e;
  const message = e.message.replace(/\bkey_[A-Za-z0-9_-]+/g, (id) => (names.has(id) ? `“${names.get(id)!.name}” (${id})` : id));
  return message === e.message ? e : new ApiError(message, (e as ApiError).code ?? 0, (e as ApiError).status);
}

function TeamModal({ modal, close }: { modal: Modal; close: () => void }) {
  const { admin, dir, reloadDir } = useConsole();
  const act = useAction();
  const done = () => (reloadDir(), close());
  switch (modal.kind) {
    case "create":
      return (
        <Dialog title="New team" onClose={close}>
          <TeamForm submit="Create team" busy={act.busy} error={act.error} onSubmit={(f) => act.run(() => admin.createTeam(f), (t) => (done(), navigate("teams", { id: t.id })))} />
        </Dialog>
      );
    case "edit":
      return (
        <Dialog title={`Edit team “${modal.team.name}”`} onClose={close}>
          <TeamForm team={modal.team} submit="Save changes" busy={act.busy} error={act.error} onSubmit={(f) => act.run(() => admin.updateTeam(modal.team.id, f, modal.team.revision), done)} />
        </Dialog>
      );
    case "delete": {
      const keys = dir.keys.filter((k) => k.team_id === modal.team.id && keyStatus(k) !== "revoked");
      return (
        <Confirm title={`Delete team “${modal.team.name}”?`} action="Delete team" danger busy={act.busy} error={withKeyNames(act.error, dir.keyById)} onClose={close} onConfirm={() => act.run(() => admin.deleteTeam(modal.team.id), () => (done(), navigate("teams")))}>
          <p>The team and its limits go away. A team that still has keys cannot be deleted: move or revoke them first.</p>
          {keys.length > 0 && (
            <p>
              It still has {keys.length === 1 ? "this key" : `these ${keys.length} keys`}:{" "}
              {keys.slice(0, 10).map((k, i) => (
                <>
                  {i ? ", " : ""}
                  <a href={href("keys", { team_id: modal.team.id, q: k.name })} onClick={close}>
                    {k.name}
                  </a>
                </>
              ))}
              {keys.length > 10 ? ` and ${keys.length - 10} more` : ""}.
            </p>
          )}
        </Confirm>
      );
    }
  }
}

function TeamForm(props: { team?: TeamRecord; submit: string; busy: boolean; error?: Error; onSubmit: (f: Partial<TeamFields>) => void }) {
  const t = props.team;
  return (
    <form
      class="form"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        props.onSubmit({ name: String(f.get("name") ?? "").trim(), rate_limit: rateLimitFrom(f), budget: budgetFrom(f), ...logBodiesFrom(f, t?.log_bodies) });
      }}
    >
      <label class="wide">
        Name <span class="req">(required)</span>
        <input name="name" required maxLength={200} defaultValue={t?.name} autocomplete="off" />
        <FieldError name="name" error={props.error} />
      </label>
      <LimitFields value={t?.rate_limit} error={props.error} />
      <BudgetFields value={t?.budget} error={props.error} />
      <LogBodiesField value={t?.log_bodies} team />
      <FormError error={props.error} />
      <div class="actions wide">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.submit}
        </button>
      </div>
    </form>
  );
}
