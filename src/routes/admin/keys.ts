/**
 * /admin/keys: create (the only time the secret is shown), read, list, change, revoke, rotate. Every write goes
 * through the key's Governor, the one writer of its record: writes to one key apply one at a time, each on the
 * stored record, a revoked key stays revoked, and `If-Match: <revision>` makes a write conditional (409 if stale).
 */
import { Hono, type Context } from "hono";
import { newVirtualKey, randomBase62, sha256Hex } from "../../auth/crypto";
import * as z from "zod/mini";
import { KeyFields, KeyPatch, MAX_GRACE_SECONDS, type KeyRecord } from "../../keys/key-record";
import { isRecordId, KeyStore } from "../../keys/key-store";
import type { AppEnv, Env } from "../../env";
import { audit, changesOf, type AuditAction } from "../../audit/trail";
import { badRequest, GatewayError, notFound } from "../../gemini/errors";
import { governor } from "../../lib/governors";
import type { KeyChange } from "../../governance/governor";
import { invalidateLease } from "../../governance/lease";
import { beforeBudget } from "./budget-write";
import type { WriteResult } from "../../governance/protocol";
import { TeamStore } from "../../governance/team-store";
import { scopedTeam } from "./access";
import { assertPoliciesDefined } from "./guardrails";
import { getConfig } from "../../config";
import { ifRevision, pageLimit, parseJson, written } from "./json";

export const keysApp = new Hono<AppEnv>();

const store = (env: Env) => new KeyStore(env.VIRTUAL_KEYS);

/**
 * The key's record as its Governor holds it (KV for keys from before Governors kept records). A team admin is
 * answered 404 for a key of another team, exactly as for one that does not exist.
 */
async function load(env: Env, id: string, inTeam?: string): Promise<KeyRecord> {
  const r = (await governor(env, "key", id).readKey()) ?? (await store(env).byId(id))?.record;
  if (!r || (inTeam !== undefined && r.team_id !== inTeam)) throw notFound(`key "${id.slice(0, 200)}" not found`);
  return r;
}

/**
 * A key belongs to at most one team, and only to one that exists. The team's Governor answers first (KV may still
 * show a team just deleted); a team it has no record of may be one from before Governors kept records, in KV only.
 * A key that still lands in a team deleted at the same moment (no lock spans the two objects) is refused on every
 * call until it is moved: the team's Governor grants nothing once it is deleted.
 */
async function assertTeamExists(env: Env, teamId: string | null | undefined) {
  if (!teamId) return;
  const status = isRecordId(teamId) ? await governor(env, "team", teamId).teamStatus() : "none";
  if (status === "live") return;
  if (status === "deleted") throw badRequest(`team_id: team "${teamId}" was deleted`);
  if (!(await new TeamStore(env.VIRTUAL_KEYS).get(teamId))) throw badRequest(`team_id: team "${teamId}" does not exist`);
}

/**
 * One write through the key's Governor (confined to a team admin's team there); this isolate's caches of the key
 * are dropped at once, and the write goes to the audit trail (`action`) with the fields it changed.
 */
async function update(c: Context<AppEnv>, id: string, change: KeyChange, action: AuditAction): Promise<KeyRecord> {
  const gov = governor(c.env, "key", id);
  const inTeam = scopedTeam(c.var.actor);
  let r = await gov.updateKey(change, ifRevision(c), inTeam);
  if (!r.ok && r.code === 404 && isRecordId(id)) {
    // A key from before Governors kept records: hand the Governor its record once, then write.
    const old = await store(c.env).byId(id);
    if (!old) throw notFound(`key "${id.slice(0, 200)}" not found`);
    await gov.adoptKey(old.record);
    r = await gov.updateKey(change, ifRevision(c), inTeam);
  }
  invalidateLease("key", id);
  const next = written(r as WriteResult<KeyRecord>);
  await audit(c.env, c.var.actor, action, id, changesOf(r.ok ? r.before : null, next));
  return next;
}

/** A team admin keeps its keys in its team: it creates keys there and moves none elsewhere. */
function assertOwnTeam(c: Context<AppEnv>, teamId: string | null | undefined, doing: string) {
  const team = scopedTeam(c.var.actor);
  if (team !== undefined && teamId !== undefined && teamId !== team) {
    throw new GatewayError(403, `a team_admin token ${doing} only in its own team "${team}"`);
  }
}

keysApp.post("/", async (c) => {
  const fields = await parseJson(c, KeyFields);
  assertPoliciesDefined(getConfig(c.env), fields.guardrails);
  assertOwnTeam(c, fields.team_id, "creates keys");
  fields.team_id ??= scopedTeam(c.var.actor);
  await assertTeamExists(c.env, fields.team_id);
  const secret = newVirtualKey();
  const now = new Date().toISOString();
  const record: KeyRecord = {
    ...fields,
    id: `key_${randomBase62(16)}`,
    active: fields.active ?? true,
    prefix: secret.slice(0, 10),
    created_at: now,
    updated_at: now,
    rotations: 0,
  };
  const created = written(await governor(c.env, "key", record.id).createKey(record, await sha256Hex(secret)));
  await audit(c.env, c.var.actor, "key.create", created.id, changesOf(null, created));
  return c.json({ ...created, key: secret }, 201);
});

keysApp.get("/", async (c) => {
  const team = scopedTeam(c.var.actor);
  const limit = pageLimit(c.req.query("limit"));
  const cursor = c.req.query("cursor") || undefined;
  const page = team === undefined ? await store(c.env).list(limit, cursor) : await store(c.env).listInTeam(team, limit, cursor);
  return c.json({ keys: page.records, ...(page.cursor ? { cursor: page.cursor } : {}) });
});

keysApp.get("/:id", async (c) => {
  const r = await load(c.env, c.req.param("id"), scopedTeam(c.var.actor));
  c.header("etag", `"${r.revision ?? 1}"`);
  return c.json(r);
});

keysApp.patch("/:id", async (c) => {
  const patch = await parseJson(c, KeyPatch);
  assertPoliciesDefined(getConfig(c.env), patch.guardrails);
  const id = c.req.param("id");
  assertOwnTeam(c, patch.team_id, "keeps keys");
  if (patch.team_id !== undefined) await assertTeamExists(c.env, patch.team_id);
  if (patch.budget) await beforeBudget(c.env, "key", id);
  return c.json(await update(c, id, { kind: "patch", fields: patch }, "key.update"));
});

keysApp.delete("/:id", async (c) => c.json(await update(c, c.req.param("id"), { kind: "revoke" }, "key.revoke")));

const RotateBody = z.object({
  grace_seconds: z.optional(z.int().check(z.gte(0), z.lte(MAX_GRACE_SECONDS))),
});

/**
 * A new secret for the same key (same id, limits and counters). The secret it replaces keeps working for
 * `grace_seconds` (default 0: it stops at once); any earlier secret stops at once. A revocation or
 * `active: false` ends the grace.
 */
keysApp.post("/:id/rotate", async (c) => {
  // The body is optional: a rotate without one (as before grace existed) has no grace.
  const { grace_seconds = 0 } = (await c.req.raw.clone().text()).trim() ? await parseJson(c, RotateBody) : {};
  const secret = newVirtualKey();
  const change = { kind: "rotate", hash: await sha256Hex(secret), prefix: secret.slice(0, 10), graceMs: grace_seconds * 1000 } as const;
  const next = await update(c, c.req.param("id"), change, "key.rotate");
  return c.json({ ...next, key: secret });
});
