/** /admin/keys: create (the only time the secret is shown), read, list, change, revoke, rotate. */
import { Hono } from "hono";
import { newVirtualKey, randomBase62, sha256Hex } from "../../auth/crypto";
import { KeyFields, KeyPatch, type KeyRecord } from "../../auth/key-record";
import { KeyStore } from "../../auth/key-store";
import type { Env } from "../../env";
import { badRequest, GatewayError, notFound } from "../../gemini/errors";
import { configureKey } from "../../governance/client";
import { TeamStore } from "../../governance/team-store";
import { pageLimit, parseJson } from "./json";

export const keysApp = new Hono<{ Bindings: Env }>();

const store = (env: Env) => new KeyStore(env.VIRTUAL_KEYS);

async function load(env: Env, id: string) {
  const s = await store(env).byId(id);
  if (!s) throw notFound(`key "${id}" not found`);
  return s;
}

/** A key belongs to at most one team, and only to one that exists. */
async function assertTeamExists(env: Env, teamId: string | null | undefined) {
  if (teamId && !(await new TeamStore(env.VIRTUAL_KEYS).get(teamId))) throw badRequest(`team_id: team "${teamId}" does not exist`);
}

/** The key's Governor first (enforced at once), then KV (what auth and the admin API read). */
async function save(env: Env, hash: string, record: KeyRecord) {
  await configureKey(env, record);
  await store(env).put(hash, record);
}

keysApp.post("/", async (c) => {
  const fields = await parseJson(c, KeyFields);
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
  await save(c.env, await sha256Hex(secret), record);
  return c.json({ ...record, key: secret }, 201);
});

keysApp.get("/", async (c) => {
  const page = await store(c.env).list(pageLimit(c.req.query("limit")), c.req.query("cursor") || undefined);
  return c.json({ keys: page.records, ...(page.cursor ? { cursor: page.cursor } : {}) });
});

keysApp.get("/:id", async (c) => c.json((await load(c.env, c.req.param("id"))).record));

keysApp.patch("/:id", async (c) => {
  const patch = await parseJson(c, KeyPatch);
  const { hash, record } = await load(c.env, c.req.param("id"));
  if (patch.team_id !== record.team_id) await assertTeamExists(c.env, patch.team_id);
  const next: KeyRecord = { ...record, ...patch, id: record.id, updated_at: new Date().toISOString() };
  await save(c.env, hash, next);
  return c.json(next);
});

keysApp.delete("/:id", async (c) => {
  const { hash, record } = await load(c.env, c.req.param("id"));
  const now = new Date().toISOString();
  const next: KeyRecord = { ...record, active: false, revoked_at: record.revoked_at ?? now, updated_at: now };
  await save(c.env, hash, next);
  return c.json(next);
});

/** A new secret for the same key (same id, limits and counters); the old secret stops working at once. */
keysApp.post("/:id/rotate", async (c) => {
  const { hash, record } = await load(c.env, c.req.param("id"));
  if (record.revoked_at) throw new GatewayError(409, `key "${record.id}" is revoked; create a new key instead`);
  const secret = newVirtualKey();
  const next: KeyRecord = {
    ...record,
    prefix: secret.slice(0, 10),
    rotations: (record.rotations ?? 0) + 1,
    updated_at: new Date().toISOString(),
  };
  // The Governor learns the new rotation count first: a cached record of the old secret is refused from then on.
  await configureKey(c.env, next);
  await store(c.env).rehash(hash, await sha256Hex(secret), next);
  return c.json({ ...next, key: secret });
});
