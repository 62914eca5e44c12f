/** The console: sign-in, then one page per hash route over a shared directory of keys and teams. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Admin, setUnauthorizedHandler } from "./api";
import { Ctx, directoryOf, type ConsoleCtx, type Directory } from "./context";
import { useLoad } from "./load";
import { Alerts } from "./pages/alerts";
import { Audit } from "./pages/audit";
import { Keys } from "./pages/keys";
import { Logs } from "./pages/logs";
import { Overview } from "./pages/overview";
import { Playground } from "./pages/playground";
import { Providers } from "./pages/providers";
import { Resources } from "./pages/resources";
import { SignIn } from "./pages/signin";
import { Teams } from "./pages/teams";
import { Tokens } from "./pages/tokens";
import { abilitiesOf, pagesFor, ROLE_LABEL, whyNot, type Self } from "./roles";
import { href, type Page, type Route, useRoute } from "./router";
import { ErrorNote } from "./ui/dialog";
import { Loading } from "./ui/bits";
import { forgetSecrets, forgetToken, saveToken, savedToken } from "./session";

const LABEL: Record<Page, string> = { overview: "Overview", keys: "Keys", teams: "Teams", logs: "Logs", resources: "Resources", providers: "Providers", tokens: "Tokens", audit: "Audit", alerts: "Alerts", playground: "Playground" };
const EMPTY = directoryOf([], []);

export function App() {
  const [token, setToken] = useState(savedToken);
  const [notice, setNotice] = useState<string>();
  const signOut = (message?: string) => {
    forgetToken();
    forgetSecrets();
    setNotice(message);
    setToken(null);
  };
  useEffect(() => setUnauthorizedHandler((m) => signOut(m)), []);
  useEffect(() => {
    if (!token) document.title = "Sign in · edgeway console";
  }, [token]);
  if (!token)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(t) => {
          saveToken(t);
          setNotice(undefined);
          setToken(t);
        }}
      />
    );
  return <Console token={token} onSignOut={() => signOut()} />;
}

/** Reads the token's role once, then shows the console for that role. */
function Console({ token, onSignOut }: { token: string; onSignOut: () => void }) {
  const admin = useMemo(() => new Admin(token), [token]);
  const self = useLoad(() => admin.self(), [admin]);
  if (self.data) return <Signed admin={admin} self={self.data} onSignOut={onSignOut} />;
  return (
    <main id="main" class="signin">
      <h1>edgeway console</h1>
      {self.error ? <ErrorNote error={self.error} prefix="Could not read this token's role" retry={self.reload} /> : <Loading what="this token's role" />}
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </main>
  );
}

/** Whether the address names a page (`#/keys…`), not just the console (`#`, `#/`, or nothing). */
const namesPage = (route: Route) => new RegExp(`^#/?${route.page}(\\?|$)`).test(route.hash);

function Signed({ admin, self, onSignOut }: { admin: Admin; self: Self; onSignOut: () => void }) {
  const route = useRoute();
  const pages = pagesFor(self.role);
  const allowed = pages.includes(route.page);
  // The console's address with no page lands on the first page this role may use.
  useEffect(() => {
    if (!allowed && !namesPage(route)) location.replace(href(pages[0]!));
  }, [allowed, route.hash]);
  // Keys and teams may have changed elsewhere (another operator, the API): read them again on each page. A dep,
  // not a reload in an effect, so the directory counts as loading from the very render that shows the new page.
  // The same keys and teams read again keep the same directory, so pages that read usage per directory
  // (spend, budget meters) do not read it again after every page change's reload.
  const lastDir = useRef<{ text: string; dir: Directory } | null>(null);
  const dirLoad = useLoad(async () => {
    const [keys, teams] = await Promise.all([admin.keys(), admin.teams()]);
    const text = JSON.stringify([keys, teams]);
    if (lastDir.current?.text !== text) lastDir.current = { text, dir: directoryOf(keys, teams) };
    return lastDir.current.dir;
  }, [admin, route.page]);
  const ctx: ConsoleCtx = { admin, self, may: abilitiesOf(self.role), dir: dirLoad.data ?? EMPTY, dirError: dirLoad.error, dirLoading: dirLoad.loading, reloadDir: dirLoad.reload };

  // A new page: its title, and focus on its heading so keyboard and screen-reader users start there.
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${LABEL[route.page]} · edgeway console`;
    if (first.current) return void (first.current = false);
    main.current?.querySelector<HTMLElement>("h1")?.focus();
  }, [route.page]);

  return (
    <Ctx.Provider value={ctx}>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          main.current?.querySelector<HTMLElement>("h1")?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="masthead">
        <a class="brand" href={href(pages[0]!)}>
          edgeway <span>console</span>
        </a>
        <nav aria-label="Console">
          <ul>
            {pages.map((p) => (
              <li>
                <a href={href(p)} aria-current={route.page === p ? "page" : undefined}>
                  {LABEL[p]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <p class="whoami" aria-label="Signed in as">
          <span class="role">{ROLE_LABEL[self.role]}</span>
          {self.role !== "root" && <span class="muted small"> “{self.name}”</span>}
          {self.team_id && (
            <span class="small">
              {" "}
              · team {ctx.dir.teamById.get(self.team_id)?.name ?? ""} <span class="mono">({self.team_id})</span>
            </span>
          )}
        </p>
        <button type="button" class="signout" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {/* Busy while keys and teams are read (again): what the page shows may still change. */}
      <main id="main" ref={main} data-hash={route.hash} aria-busy={dirLoad.loading}>
        {!allowed ? (
          <NotForRole page={route.page} self={self} home={pages[0]!} />
        ) : (
          <>
            {route.page === "overview" && <Overview route={route} />}
            {route.page === "keys" && <Keys route={route} />}
            {route.page === "teams" && <Teams route={route} />}
            {route.page === "logs" && <Logs route={route} />}
            {route.page === "resources" && <Resources route={route} />}
            {route.page === "providers" && <Providers />}
            {route.page === "tokens" && <Tokens />}
            {route.page === "audit" && <Audit route={route} />}
            {route.page === "alerts" && <Alerts />}
            {route.page === "playground" && <Playground route={route} />}
          </>
        )}
      </main>
    </Ctx.Provider>
  );
}

/** A page this token's role cannot use, reached by its address: why, and where to go instead. */
function NotForRole({ page, self, home }: { page: Page; self: Self; home: Page }) {
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>{LABEL[page]}</h1>
      </div>
      <p class="notice" role="status">
        This page is not available to this token. {whyNot(self)} Go to <a href={href(home)}>{LABEL[home]}</a>.
      </p>
    </>
  );
}
