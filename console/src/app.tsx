/** The console: sign-in, then one page per hash route over a shared directory of keys and teams. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Admin, setUnauthorizedHandler } from "./api";
import { Ctx, directoryOf, type ConsoleCtx } from "./context";
import { useLoad } from "./load";
import { Keys } from "./pages/keys";
import { Logs } from "./pages/logs";
import { Overview } from "./pages/overview";
import { Playground } from "./pages/playground";
import { Providers } from "./pages/providers";
import { Resources } from "./pages/resources";
import { SignIn } from "./pages/signin";
import { Teams } from "./pages/teams";
import { href, PAGES, type Page, useRoute } from "./router";
import { forgetSecrets, forgetToken, saveToken, savedToken } from "./session";

const LABEL: Record<Page, string> = { overview: "Overview", keys: "Keys", teams: "Teams", logs: "Logs", resources: "Resources", providers: "Providers", playground: "Playground" };
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

function Console({ token, onSignOut }: { token: string; onSignOut: () => void }) {
  const admin = useMemo(() => new Admin(token), [token]);
  const route = useRoute();
  const dirLoad = useLoad(async () => {
    const [keys, teams] = await Promise.all([admin.keys(), admin.teams()]);
    return directoryOf(keys, teams);
  }, [admin]);
  const ctx: ConsoleCtx = { admin, dir: dirLoad.data ?? EMPTY, dirError: dirLoad.error, dirLoading: dirLoad.loading, reloadDir: dirLoad.reload };

  // A new page: its title, and focus on its heading so keyboard and screen-reader users start there.
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${LABEL[route.page]} · edgeway console`;
    if (first.current) return void (first.current = false);
    main.current?.querySelector<HTMLElement>("h1")?.focus();
    // Keys and teams may have changed elsewhere (another operator, the API): read them again on each page.
    dirLoad.reload();
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
        <a class="brand" href={href("overview")}>
          edgeway <span>console</span>
        </a>
        <nav aria-label="Console">
          <ul>
            {PAGES.map((p) => (
              <li>
                <a href={href(p)} aria-current={route.page === p ? "page" : undefined}>
                  {LABEL[p]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="signout" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} data-hash={route.hash}>
        {route.page === "overview" && <Overview route={route} />}
        {route.page === "keys" && <Keys route={route} />}
        {route.page === "teams" && <Teams route={route} />}
        {route.page === "logs" && <Logs route={route} />}
        {route.page === "resources" && <Resources route={route} />}
        {route.page === "providers" && <Providers />}
        {route.page === "playground" && <Playground route={route} />}
      </main>
    </Ctx.Provider>
  );
}
