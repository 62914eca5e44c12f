/**
 * Hash routes (`#/logs?key_id=…`): the console is static files, so every page is one index.html and the URL
 * still says which page and which filters (bookmarks, the back button, links between pages).
 */
import { useEffect, useState } from "preact/hooks";

export const PAGES = ["overview", "keys", "teams", "logs", "resources", "providers", "tokens", "audit", "alerts", "playground"] as const;
export type Page = (typeof PAGES)[number];
export interface Route {
  page: Page;
  params: URLSearchParams;
  /** The address this route was read from (`#/logs?key_id=…`). */
  hash: string;
}

export function parseHash(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#\/?/, "").split("?", 2);
  const page = (PAGES as readonly string[]).includes(path) ? (path as Page) : "overview";
  return { page, params: new URLSearchParams(query), hash };
}

export function href(page: Page, params: Record<string, string | number | undefined | null> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const q = p.toString();
  return `#/${page}${q ? `?${q}` : ""}`;
}

/** Goes to a page; `replace` (for typing in a search box) does it without a history entry per keystroke. */
export const navigate = (page: Page, params?: Record<string, string | number | undefined | null>, replace = false) => {
  if (replace) location.replace(href(page, params));
  else location.hash = href(page, params);
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute((r) => (r.hash === location.hash ? r : parseHash(location.hash)));
    addEventListener("hashchange", on);
    // The address may have changed between the first render and now (the listener was not there yet).
    on();
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
