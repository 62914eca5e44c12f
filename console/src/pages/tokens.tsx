/**
 * Tokens: the scoped admin tokens (admin, viewer, team_admin). Mint (the secret is shown once), list, delete (the
 * token is refused from its next request). The form offers only roles this token may mint: root mints any, an
 * admin never an admin; a viewer only reads the list.
 */
import { useState } from "preact/hooks";
import type { NewToken, TokenRecord } from "../api";
import { useConsole } from "../context";
import { fmtTime } from "../format";
import { useLoad } from "../load";
import { href } from "../router";
import { Loading, PageHead, SecretField, teamName, TeamOptions } from "../ui/bits";
import { Confirm, Dialog, ErrorNote } from "../ui/dialog";
import { FieldError, FormError, useAction } from "../ui/form";

type Modal = { kind: "create" } | { kind: "delete"; token: TokenRecord } | { kind: "secret"; token: NewToken };

const ROLE_HELP = {
  admin: "admin: everything, but mints no admin token",
  viewer: "viewer: reads everything, changes nothing",
  team_admin: "team_admin: the keys of one team",
} as const;

export function Tokens() {
  const { admin, dir, self, may } = useConsole();
  const list = useLoad(() => admin.tokens(), [admin]);
  const [modal, setModal] = useState<Modal | null>(null);
  const close = () => setModal(null);
  const mayDelete = (t: TokenRecord) => may.writeTokens && (t.role !== "admin" || self.role === "root");
  const tokens = [...(list.data ?? [])].sort((a, b) => (b.created_at < a.created_at ? -1 : 1));
  return (
    <>
      <PageHead title="Tokens">
        {may.writeTokens && (
          <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
            New token
          </button>
        )}
      </PageHead>
      <p class="muted">
        Admin tokens for the console and the admin API, each with a role. {self.role === "admin" && "Only the root ADMIN_TOKEN mints or deletes admin tokens."}
      </p>
      {list.error && <ErrorNote error={list.error} prefix="Could not read tokens" retry={list.reload} />}
      {list.loading && !list.data ? (
        <Loading what="tokens" />
      ) : !tokens.length ? (
        <p class="muted">No admin tokens yet: only the root ADMIN_TOKEN signs in.</p>
      ) : (
        <div class="table-wrap" aria-busy={list.loading}>
          <table class="cards">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Team</th>
                <th scope="col">Secret</th>
                <th scope="col">Created</th>
                {may.writeTokens && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr>
                  <th scope="row" data-label="Name">
                    <span class="name">{t.name}</span>
                    <span class="muted mono small">{t.id}</span>
                  </th>
                  <td data-label="Role">{t.role}</td>
                  <td data-label="Team">{t.team_id ? <a href={href("teams", { id: t.team_id })}>{teamName(dir.teamById, t.team_id)}</a> : "—"}</td>
                  <td data-label="Secret" class="mono">
                    {t.prefix}…
                  </td>
                  <td data-label="Created" class="small">
                    {fmtTime(t.created_at, false)}
                    <br />
                    <span class="muted">by {minter(tokens, t.created_by)}</span>
                  </td>
                  {may.writeTokens && (
                    <td data-label="Actions">
                      {mayDelete(t) ? (
                        <button type="button" class="danger" onClick={() => setModal({ kind: "delete", token: t })} aria-label={`Delete ${t.name}`}>
                          Delete
                        </button>
                      ) : (
                        <span class="muted small">root only</span>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {modal && <TokenModal modal={modal} setModal={setModal} close={close} reload={list.reload} />}
    </>
  );
}

function TokenModal({ modal, setModal, close, reload }: { modal: Modal; setModal: (m: Modal) => void; close: () => void; reload: () => void }) {
  const { admin, dir, may } = useConsole();
  const act = useAction();
  const [role, setRole] = useState(may.mintable[0] ?? "viewer");
  switch (modal.kind) {
    case "create":
      return (
        <Dialog title="New token" onClose={close}>
          <form
            class="form"
            onSubmit={(e) => {
              e.preventDefault();
              const f = new FormData(e.currentTarget);
              const name = String(f.get("name") ?? "").trim();
              const team_id = role === "team_admin" ? String(f.get("team_id") ?? "") || null : null;
              act.run(() => admin.createToken({ name, role, team_id }), (t) => (reload(), setModal({ kind: "secret", token: t })));
            }}
          >
            <label class="wide">
              Name <span class="req">(required)</span>
              <input name="name" required maxLength={200} autocomplete="off" />
              <FieldError name="name" error={act.error} />
            </label>
            <label>
              Role
              <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value as typeof role)}>
                {may.mintable.map((r) => (
                  <option value={r}>{ROLE_HELP[r]}</option>
                ))}
              </select>
              <FieldError name="role" error={act.error} />
            </label>
            {role === "team_admin" && (
              <label>
                Team <span class="req">(required)</span>
                <select name="team_id" required>
                  <TeamOptions teams={dir.teams} none="Choose a team" />
                </select>
                <FieldError name="team_id" error={act.error} />
              </label>
            )}
            <FormError error={act.error} />
            <div class="actions wide">
              <button type="submit" class="primary" disabled={act.busy}>
                Create token
              </button>
            </div>
          </form>
        </Dialog>
      );
    case "delete":
      return (
        <Confirm title={`Delete token “${modal.token.name}”?`} action="Delete token" danger busy={act.busy} error={act.error} onClose={close} onConfirm={() => act.run(() => admin.deleteToken(modal.token.id), () => (reload(), close()))}>
          <p>The token is refused from its next request, everywhere. This cannot be undone.</p>
        </Confirm>
      );
    case "secret":
      return (
        <Dialog title={`Token “${modal.token.name}” created`} onClose={close}>
          <SecretField label="Token" secret={modal.token.token} />
          <p>
            <strong>This is the only time the token is shown.</strong> Give it to its holder: they sign in to this console with it.
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

/** Who minted a token: root, or the minting token's name while it exists (its id once deleted). */
function minter(tokens: readonly { id: string; name: string }[], by: string): string {
  return tokens.find((t) => t.id === by)?.name ?? by;
}
