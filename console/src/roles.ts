/**
 * What the signed-in token may do, read once after sign-in (`GET /admin/tokens/self`), so the console shows only
 * that: the same rules as the admin API (src/routes/admin/access.ts), which stays the judge of every call.
 */
import { PAGES, type Page } from "./router";

export type Role = "root" | "admin" | "viewer" | "team_admin";
export interface Self {
  id: string;
  name: string;
  role: Role;
  team_id: string | null;
}

export interface Abilities {
  /** Create, edit, rotate and revoke keys (a team admin: its team's). */
  writeKeys: boolean;
  /** Create, edit and delete teams. */
  writeTeams: boolean;
  /** Mint and delete admin tokens (`admin` ones: root only). */
  writeTokens: boolean;
  /** The roles this token may mint: never one above itself. */
  mintable: readonly ("admin" | "viewer" | "team_admin")[];
  /** What is not one team's keys: usage, logs, spend, budget use, providers (a team admin reads none of them). */
  readGlobal: boolean;
}

export const abilitiesOf = (role: Role): Abilities => ({
  writeKeys: role !== "viewer",
  writeTeams: role === "root" || role === "admin",
  writeTokens: role === "root" || role === "admin",
  mintable: role === "root" ? ["admin", "viewer", "team_admin"] : role === "admin" ? ["viewer", "team_admin"] : [],
  readGlobal: role !== "team_admin",
});

/** A team admin manages its team's keys and reads its team; the playground looks calls up in Logs, so not there. */
const TEAM_ADMIN_PAGES: readonly Page[] = ["keys", "teams"];

export const pagesFor = (role: Role): readonly Page[] => (role === "team_admin" ? TEAM_ADMIN_PAGES : PAGES);

/** Why a page is not shown to this token (a deep link to it lands here instead of on the API's 403). */
export function whyNot(self: Self): string {
  if (self.role === "team_admin") {
    return `A team_admin token manages the keys of its own team (“${self.team_id}”) and reads that team; usage, logs, resources, providers, tokens, the audit trail, alerts and the playground are for admin and viewer tokens.`;
  }
  return `A ${self.role} token cannot use this page.`;
}

export const ROLE_LABEL: Record<Role, string> = { root: "root (ADMIN_TOKEN)", admin: "admin", viewer: "viewer (read only)", team_admin: "team admin" };
