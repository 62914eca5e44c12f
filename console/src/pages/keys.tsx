/** Keys: list with search and status; create (secret shown once), edit, rotate (new secret shown once), revoke. */
import { useId, useRef, useState } from "preact/hooks";
import type { KeyFields, KeyRecord, NewKey } from "../api";
import { budgetUse, periodLabel, type BudgetUse } from "../budget";
import { useConsole } from "../context";
import { fmtInt, fmtTime, fmtUsd, fromLocalInput, splitList, toLocalInput } from "../format";
import { href, navigate, type Route } from "../router";
import { rememberSecret } from "../session";
import { useLoad } from "../load";
import { BudgetMeter, keyStatus, type KeyStatus, Loading, PageHead, SecretField, StatusBadge, teamName, TeamOptions } from "../ui/bits";
import { Confirm, Dialog, ErrorNote } from "../ui/dialog";
import { BudgetFields, budgetFrom, FieldError, FormError, LimitFields, LogBodiesField, logBodiesFrom, rateLimitFrom, useAction } from "../ui/form";

export type KeyModalState = { kind: "create"; team_id?: string } | { kind: "edit"; key: KeyRecord } | { kind: "rotate"; key: KeyRecord } | { kind: "revoke"; key: KeyRecord } | { kind: "secret"; key: NewKey; rotated: boolean };

export function Keys({ route }: { route: Route }) {
  const { dir, dirLoading, dirError, reloadDir, may } = useConsole();
  const [modal, setModal] = useState<KeyModalState | null>(null);
  const p = route.params;
  const q = (p.get("q") ?? "").trim().toLowerCase();
  const status = (p.get("status") ?? "") as KeyStatus | "";
  const team = p.get("team_id") ?? "";
  const set = (name: string, value: string, replace = false) => navigate("keys", { ...Object.fromEntries(p), [name]: value }, replace);

  const spend = useKeySpend(dir.keys);
  const shown = dir.keys
    .filter((k) => !status || keyStatus(k) === status)
    .filter((k) => !team || k.team_id === team)
    .filter((k) => !q || [k.name, k.id, k.prefix, teamName(dir.teamById, k.team_id)].some((s) => s?.toLowerCase().includes(q)))
    .sort((a, b) => (b.created_at < a.created_at ? -1 : 1));

  return (
    <>
      <PageHead title="Keys">
        {may.writeKeys && (
          <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
            New key
          </button>
        )}
      </PageHead>
      <form class="filters" role="search" aria-label="Find keys" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input type="search" value={p.get("q") ?? ""} placeholder="name, id, sk-bf- prefix, team" onInput={(e) => set("q", e.currentTarget.value, true)} />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => set("status", e.currentTarget.value)}>
            <option value="">Any status</option>
            <option value="active">active</option>
            <option value="inactive">inactive</option>
            <option value="expired">expired</option>
            <option value="revoked">revoked</option>
          </select>
        </label>
        <label>
          Team
          <select value={team} onChange={(e) => set("team_id", e.currentTarget.value)}>
            <TeamOptions teams={dir.teams} none="All teams" />
          </select>
        </label>
      </form>
      {dirError && <ErrorNote error={dirError} prefix="Could not read keys" retry={reloadDir} />}
      {spend.error && <ErrorNote error={spend.error} prefix="Could not read spend" retry={spend.reload} />}
      {dirLoading && !dir.keys.length && !dirError ? (
        <Loading what="keys" />
      ) : (
        <>
          <p class="muted" role="status">
            {fmtInt(shown.length)} of {fmtInt(dir.keys.length)} keys
          </p>
          <KeyTable keys={shown} onAction={setModal} spend={may.readGlobal ? (spend.data?.spend ?? new Map()) : undefined} budgets={spend.data?.budgets} busy={spend.loading} />
        </>
      )}
      {modal && <KeyModal modal={modal} setModal={setModal} />}
    </>
  );
}

/** Spend over the last 30 days per key, and each key budget's use in its current period (as Teams shows a team's). */
export function useKeySpend(keys: KeyRecord[]) {
  const { admin, may } = useConsole();
  return useLoad(async () => {
    // A team admin reads no usage: no spend column, no budget meters.
    if (!may.readGlobal) return { spend: new Map<string, number>(), budgets: new Map<string, BudgetUse>() };
    const [usage, budgets] = await Promise.all([admin.usage({ group_by: "key", from: Date.now() - 30 * 86_400_000 }), budgetUse(admin, keys, [])]);
    return {
      spend: new Map((usage.groups ?? []).map((g) => [String(g.key_id), g.cost_usd])),
      budgets: new Map(budgets.map((b) => [b.id, b])),
    };
  }, [keys]);
}

export function KeyTable(props: {
  keys: KeyRecord[];
  onAction?: (m: KeyModalState) => void;
  spend?: Map<string, number>;
  budgets?: Map<string, BudgetUse>;
  /** Leave out the Team column (the team page: every key is in that team), so the actions fit at laptop width. */
  inTeam?: boolean;
  /** The spend or budget use shown is still being read. */
  busy?: boolean;
}) {
  const { keys, onAction, spend, budgets, inTeam, busy } = props;
  const { dir, may } = useConsole();
  if (!keys.length) return <p class="muted">No keys match.</p>;
  return (
    <div class="table-wrap" aria-busy={busy}>
      <table class="cards keys">
        <thead>
          <tr>
            <th scope="col">Name</th>
            {!inTeam && <th scope="col">Team</th>}
            <th scope="col">Status</th>
            <th scope="col">Secret</th>
            <th scope="col">Limits</th>
            <th scope="col">Budget</th>
            {spend && <th scope="col">Spend, 30 days</th>}
            <th scope="col">Created, expires</th>
            {onAction && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => {
            const st = keyStatus(k);
            return (
              <tr>
                <th scope="row" data-label="Name">
                  <span class="name">{k.name}</span>
                  <span class="muted mono small">{k.id}</span>
                </th>
                {!inTeam && <td data-label="Team">{k.team_id ? <a href={href("teams", { id: k.team_id })}>{teamName(dir.teamById, k.team_id)}</a> : "—"}</td>}
                <td data-label="Status">
                  <StatusBadge status={st} />
                </td>
                <td data-label="Secret" class="mono">
                  {k.prefix}…{k.rotations ? <span class="muted small"> rotated {k.rotations}×</span> : null}
                  {k.grace && Date.parse(k.grace.until) > Date.now() ? <span class="muted small"> old {k.grace.prefix}… works until {fmtTime(k.grace.until, false)}</span> : null}
                </td>
                <td data-label="Limits">{limits(k.rate_limit)}</td>
                <td data-label="Budget">
                  {k.budget ? (
                    <>
                      {fmtUsd(k.budget.max_usd)} {periodLabel(k.budget.period)}
                      {budgets?.get(k.id) && <BudgetMeter spent={budgets.get(k.id)!.spent} max={budgets.get(k.id)!.max_usd} />}
                    </>
                  ) : (
                    "—"
                  )}
                </td>
                {spend && <td data-label="Spend, 30 days">{fmtUsd(spend.get(k.id) ?? 0)}</td>}
                <td data-label="Created, expires" class="small">
                  {fmtTime(k.created_at, false)}
                  <br />
                  <span class="muted">{k.expires_at ? `expires ${fmtTime(k.expires_at, false)}` : "never expires"}</span>
                </td>
                {onAction && (
                  <td data-label="Actions">
                    <span class="row-actions">
                      {may.readGlobal && <a href={href("logs", { key_id: k.id })}>Logs</a>}
                      {st !== "revoked" && may.writeKeys && (
                        <>
                          <button type="button" onClick={() => onAction({ kind: "edit", key: k })} aria-label={`Edit ${k.name}`}>
                            Edit
                          </button>
                          <button type="button" onClick={() => onAction({ kind: "rotate", key: k })} aria-label={`Rotate ${k.name}`}>
                            Rotate
                          </button>
                          <button type="button" class="danger" onClick={() => onAction({ kind: "revoke", key: k })} aria-label={`Revoke ${k.name}`}>
                            Revoke
                          </button>
                        </>
                      )}
                    </span>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** "1,200 req/min, 2,000,000 tokens/min": each limit kept on one line, the two may wrap (a narrow column at 1280 px). */
export function limits(r: KeyRecord["rate_limit"]) {
  const parts = [r?.rpm ? `${fmtInt(r.rpm)} req/min` : "", r?.tpm ? `${fmtInt(r.tpm)} tokens/min` : ""].filter(Boolean);
  if (!parts.length) return "—";
  return parts.map((t, i) => (
    <>
      {i ? ", " : ""}
      <span class="nowrap">{t}</span>
    </>
  ));
}

/** How long the replaced secret may keep working, so a service moves to the new one without a lockstep deploy. */
const GRACES: [number, string][] = [[0, "No: it stops at once"], [3600, "1 hour"], [86_400, "1 day"], [604_800, "7 days (the most)"]];

function RotateConfirm(props: {
  modal: { key: KeyRecord };
  close: () => void;
  act: ReturnType<typeof useAction>;
  rotate: (graceSeconds: number) => Promise<NewKey>;
  done: (k: NewKey) => void;
}) {
  const [grace, setGrace] = useState(0);
  const id = useId();
  const { modal, act } = props;
  return (
    <Confirm title={`Rotate key “${modal.key.name}”?`} action="Rotate secret" busy={act.busy} error={act.error} onClose={props.close} onConfirm={() => act.run(() => props.rotate(grace), props.done)}>
      <p>A new secret replaces the current one; the key keeps its id, limits and usage history.</p>
      <p>
        <label for={id}>Old secret keeps working</label>{" "}
        <select id={id} value={String(grace)} onChange={(e) => setGrace(Number((e.target as HTMLSelectElement).value))}>
          {GRACES.map(([s, label]) => (
            <option value={String(s)}>{label}</option>
          ))}
        </select>
      </p>
      <p class="muted small">{grace ? "Both secrets work until the grace ends; revoking the key ends both at once." : "The current secret stops working at once."}</p>
    </Confirm>
  );
}

export function KeyModal({ modal, setModal }: { modal: KeyModalState; setModal: (m: KeyModalState | null) => void }) {
  const { admin, reloadDir } = useConsole();
  const act = useAction();
  const close = () => setModal(null);
  const showSecret = (key: NewKey, rotated: boolean) => {
    rememberSecret(key.id, key.key);
    reloadDir();
    setModal({ kind: "secret", key, rotated });
  };
  switch (modal.kind) {
    case "create":
      return (
        <Dialog title="New key" onClose={close}>
          <KeyForm team0={modal.team_id} submit="Create key" busy={act.busy} error={act.error} onSubmit={(f) => act.run(() => admin.createKey(f), (k) => showSecret(k, false))} />
        </Dialog>
      );
    case "edit":
      return (
        <Dialog title={`Edit key “${modal.key.name}”`} onClose={close}>
          <KeyForm key0={modal.key} submit="Save changes" busy={act.busy} error={act.error} onSubmit={(f) => act.run(() => admin.updateKey(modal.key.id, f, modal.key.revision), () => (reloadDir(), close()))} />
        </Dialog>
      );
    case "rotate":
      return <RotateConfirm modal={modal} close={close} act={act} rotate={(grace) => admin.rotateKey(modal.key.id, grace)} done={(k) => showSecret(k, true)} />;
    case "revoke":
      return (
        <Confirm title={`Revoke key “${modal.key.name}”?`} action="Revoke key" danger busy={act.busy} error={act.error} onClose={close} onConfirm={() => act.run(() => admin.revokeKey(modal.key.id), () => (reloadDir(), close()))}>
          <p>Calls with this key are refused from the next request. This cannot be undone; the record and its usage history stay.</p>
        </Confirm>
      );
    case "secret":
      return (
        <Dialog title={modal.rotated ? `New secret for “${modal.key.name}”` : `Key “${modal.key.name}” created`} onClose={close}>
          <SecretField label="Secret" secret={modal.key.key} />
          <p>
            <strong>This is the only time the secret is shown.</strong> Store it now. Until you reload, this tab keeps it in memory for the{" "}
            <a href={href("playground", { key_id: modal.key.id })} onClick={close}>
              Playground
            </a>
            .
          </p>
          <div class="actions">
            <button type="button" class="primary" onClick={close}>
              Done
            </button>
          </div>
        </Dialog>
      );
  }
}

/** Create and edit: every field the admin API takes; empty means "none" (no limit, any model). */
function KeyForm(props: { key0?: KeyRecord; team0?: string; submit: string; busy: boolean; error?: Error; onSubmit: (f: Partial<KeyFields>) => void }) {
  const { admin, dir, self, may } = useConsole();
  const k = props.key0;
  const [invalid, setInvalid] = useState<Error>();
  const models = useRef<HTMLTextAreaElement>(null);
  // The picker offers what the providers list (a team admin may not read them: then there is no picker).
  const listed = useLoad(() => (may.readGlobal ? admin.providers() : Promise.resolve({ providers: [] })).then((d) => d.providers.map((p) => ({ name: p.name, models: p.models.map((m) => m.id) }))), [admin]);
  const pick = (target: string) => {
    const el = models.current;
    if (!el || !target) return;
    const have = splitList(el.value);
    if (!have.includes(target)) el.value = [...have, target].join(", ");
  };
  return (
    <form
      class="form"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        const s = (n: string) => String(f.get(n) ?? "").trim();
        const expires = fromLocalInput(s("expires_at"));
        if (s("expires_at") && expires === undefined) return setInvalid(new Error("expires_at: not a date and time"));
        setInvalid(undefined);
        props.onSubmit({
          name: s("name"),
          team_id: s("team_id") || null,
          models: splitList(s("models")),
          providers: splitList(s("providers")),
          rate_limit: rateLimitFrom(f),
          budget: budgetFrom(f),
          expires_at: expires === undefined ? null : new Date(expires).toISOString(),
          fallbacks: splitList(s("fallbacks")),
          ...(k ? { active: f.get("active") === "on" } : {}),
          ...logBodiesFrom(f, k?.log_bodies),
        });
      }}
    >
      <label>
        Name <span class="req">(required)</span>
        <input name="name" required maxLength={200} defaultValue={k?.name} autocomplete="off" />
        <FieldError name="name" error={props.error} />
      </label>
      <label>
        Team
        <select name="team_id">
          <TeamOptions teams={dir.teams} none={self.role === "team_admin" ? undefined : "No team"} selected={k ? k.team_id : (props.team0 ?? self.team_id)} />
        </select>
        <FieldError name="team_id" error={props.error} />
      </label>
      <div class="field wide">
        <label>
          Models allowed
          <textarea ref={models} name="models" rows={2} defaultValue={(k?.models ?? []).join(", ")} placeholder="any model" aria-describedby="models-help" />
        </label>
        {listed.data && (
          <label class="picker">
            Add a model
            <select
              onChange={(e) => {
                pick(e.currentTarget.value);
                e.currentTarget.value = "";
              }}
            >
              <option value="">Choose from the models list…</option>
              {listed.data.map((p) => (
                <optgroup label={p.name}>
                  <option value={`${p.name}/*`}>{p.name}/* (every {p.name} model)</option>
                  {p.models.map((m) => (
                    <option value={`${p.name}/${m}`}>
                      {p.name}/{m}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          </label>
        )}
        <span id="models-help" class="help">
          Comma-separated, <code>*</code> matches anything: <code>gemini-*</code>, <code>openai/*</code>. Empty: any model.
        </span>
        <FieldError name="models" error={props.error} />
      </div>
      <div class="field">
        <label>
          Providers allowed
          <input name="providers" defaultValue={(k?.providers ?? []).join(", ")} placeholder="any provider" aria-describedby="providers-help" />
        </label>
        <span id="providers-help" class="help">
          Comma-separated, e.g. <code>gemini, openai</code>.
        </span>
        <FieldError name="providers" error={props.error} />
      </div>
      <div class="field">
        <label>
          Default fallbacks
          <input name="fallbacks" defaultValue={(k?.fallbacks ?? []).join(", ")} placeholder="none" aria-describedby="fallbacks-help" />
        </label>
        <span id="fallbacks-help" class="help">
          <code>provider/model</code>, tried in order when a request names none.
        </span>
        <FieldError name="fallbacks" error={props.error} />
      </div>
      <LimitFields value={k?.rate_limit} error={props.error} />
      <BudgetFields value={k?.budget} error={props.error} />
      <label>
        Expires (UTC)
        <input name="expires_at" type="datetime-local" defaultValue={toLocalInput(k?.expires_at)} />
        <FieldError name="expires_at" error={invalid ?? props.error} />
      </label>
      <LogBodiesField value={k?.log_bodies} />
      {k && (
        <label class="check">
          <input name="active" type="checkbox" defaultChecked={k.active} /> Active (unchecked: calls are refused until it is checked again)
        </label>
      )}
      <FormError error={props.error} />
      <div class="actions wide">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.submit}
        </button>
      </div>
    </form>
  );
}
