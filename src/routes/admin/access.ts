/**
 * Who may do what in the admin API (docs/admin-api.md, "Admin tokens and roles"):
 * - `root` (ADMIN_TOKEN) and `admin`: everything, except that only root mints or deletes `admin` tokens (so a
 *   leaked admin token cannot make itself more admins, or lock the others out);
 * - `viewer`: every GET, no write;
 * - `team_admin`: the keys of its own team (list, read, create, change, revoke, rotate; never moving one to
 *   another team), a read of its own team and of itself (`GET /admin/tokens/self`), the stored bodies of its team's
 *   calls (`GET /admin/logs/{id}/body`, narrowed by src/routes/admin/bodies.ts); nothing else (no limits of its team,
 *   no teams, tokens, usage, logs).
 * This middleware decides by method and path; the keys routes narrow a team admin to its team's keys.
 */
import type { MiddlewareHandler } from "hono";
import type { Role } from "../../auth/admin-tokens";
import type { AppEnv } from "../../env";
import { GatewayError } from "../../gemini/errors";

declare module "../../env" {
  interface AppVariables {
    /** Who makes an admin request (set by the admin API's authentication). */
    actor: Actor;
  }
}

export interface Actor {
  /** `root`, or the token's id. */
  id: string;
  name: string;
  role: Role | "root";
  /** A team admin's team. */
  team_id: string | null;
}

export const ROOT: Actor = { id: "root", name: "root", role: "root", team_id: null };

const READS = new Set(["GET", "HEAD"]);
const BODY_PATH = /^\/admin\/logs\/[^/]+\/body$/;

export const authorize: MiddlewareHandler<AppEnv> = async (c, next) => {
  const actor = c.var.actor;
  const method = c.req.method;
  const path = new URL(c.req.url).pathname.replace(/\/+$/, "");
  if (actor.role === "viewer" && !READS.has(method)) {
    throw new GatewayError(403, `a viewer token only reads: ${method} ${path.slice(0, 200)} is a write`);
  }
  if (actor.role === "team_admin") {
    const keys = path === "/admin/keys" || path.startsWith("/admin/keys/");
    const ownTeam = READS.has(method) && (path === "/admin/teams" || path === `/admin/teams/${actor.team_id}`);
    const self = READS.has(method) && path === "/admin/tokens/self";
    const body = READS.has(method) && BODY_PATH.test(path);
    if (!keys && !ownTeam && !self && !body) {
      throw new GatewayError(403, `a team_admin token manages only the keys of team "${actor.team_id}": ${method} ${path.slice(0, 200)} is not allowed`);
    }
  }
  await next();
};

/** The team a request is confined to (a team admin's), or undefined for everyone else. */
export const scopedTeam = (actor: Actor): string | undefined => (actor.role === "team_admin" ? actor.team_id ?? "" : undefined);
