/**
 * How the app finds a request's routes. Paths under /genai are matched raw, as the client sent them: a model's
 * `%2F` is the model matcher's to judge (src/routes/model-path.ts), and a `%61` is no `a` there. @google/genai
 * builds its Live URL as `${baseUrl}/ws/...` without trimming a base URL's trailing slash: `/genai//ws/` is
 * `/genai/ws/`.
 *
 * The /genai routes put static and parameter segments side by side (`/genai/edgeway/key` beside `/genai/{v}/…`,
 * `files` beside `{provider}`), which Hono's RegExpRouter does not take, so Hono's SmartRouter falls back to its
 * TrieRouter: several microseconds a match instead of a fraction of one. A call's path is mostly one seen before
 * (the same models, the same versions), so each isolate remembers the answers for the last paths it matched;
 * Hono's routers give out a match result for reading only, as RegExpRouter's static routes already share theirs.
 */
import { Hono } from "hono";
import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";
import { PathMemo } from "../lib/path-memo";

/** Hono's own path reading: decodes what `decodeURI` decodes. */
const decodedPath = new Hono().getPath;

export function routedPath(req: Request, options?: { env?: unknown }): string {
  const url = req.url;
  const start = url.indexOf("/", url.indexOf(":") + 3);
  const query = url.indexOf("?", start);
  const path = query < 0 ? url.slice(start) : url.slice(start, query);
  if (!(path.startsWith("/genai/") || path === "/genai")) return decodedPath(req, options);
  return path.startsWith("/genai//ws/") ? `/genai${path.slice(7)}` : path;
}

export class RememberingRouter<T> implements Router<T> {
  readonly name = "RememberingRouter";
  private readonly router: Router<T> = new SmartRouter({ routers: [new RegExpRouter(), new TrieRouter()] });
  private readonly seen = new PathMemo<Result<T>>(2_000);

  add(method: string, path: string, handler: T): void {
    this.router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    return this.seen.get(method, path, () => this.router.match(method, path));
  }
}
