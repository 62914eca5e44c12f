/** Sign-in with the admin token, checked against the admin API before it is kept (in this tab only). */
import { useEffect, useRef, useState } from "preact/hooks";
import { Admin } from "../api";
import { ErrorNote } from "../ui/dialog";

export function SignIn({ notice, onSignedIn }: { notice?: string; onSignedIn: (token: string) => void }) {
  const [error, setError] = useState<Error | undefined>(notice ? new Error(notice) : undefined);
  const [busy, setBusy] = useState(false);
  // The token field has focus on arrival (also when a refused token brings this page back).
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []);
  return (
    <main id="main" class="signin">
      <h1>edgeway console</h1>
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          const token = String(new FormData(e.currentTarget).get("token") ?? "").trim();
          setBusy(true);
          setError(undefined);
          try {
            await new Admin(token).self();
            onSignedIn(token);
          } catch (err) {
            setError(err instanceof Error ? err : new Error(String(err)));
            setBusy(false);
          }
        }}
      >
        <div class="field wide">
          <label>
            Admin token
            <input ref={field} name="token" type="password" required autocomplete="off" spellcheck={false} aria-describedby="token-help" />
          </label>
          <span id="token-help" class="help">
            The gateway's <code>ADMIN_TOKEN</code>, or a scoped admin token (<code>sk-ew-admin-…</code>: admin, viewer or
            team_admin). Kept in this tab's session storage only: closing the tab signs you out.
          </span>
        </div>
        {error && <ErrorNote error={error} prefix="Not signed in" />}
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </div>
      </form>
    </main>
  );
}
