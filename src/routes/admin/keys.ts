/** /admin/keys: create (the only time the secret is shown), read, list, change, revoke. */
import { Hono } from "hono";
import { newVirtualKey, randomBase62, sha256Hex } from "../../auth/crypto";
import { KeyFields, KeyPatch, type KeyRecord } from "../../auth/key-record";
import { KeyStore } from "../../auth/key-store";
import type { Env } from "../../env";
import { notFound } from "../../gemini/errors";
import { pageLimit, parseJson } from "./json";

export const keysApp = new Hono<{ Bindings: Env }>();

const store = (env: Env) => new KeyStore(env.VIRTUAL_KEYS);

async function load(env: Env, id: string) {
  const s = await store(env).byId(id);
  if (!s) throw notFound(`key "${id}" not found`);
  return s;
}

keysApp.post("/", async (c) => {
  const fields = await parseJson(c, KeyFields);
  const secret = newVirtualKey();
  const now = new Date().toISOString();
  const record: KeyRecord = {
    ...fields,
    id: `key_${randomBase62(16)}`,
    active: fields.active ?? true,
    prefix: secret.slice(0, 10),
    created_at: now,
    updated_at: now,
  };
  await store(c.env).put(await sha256Hex(secret), record);
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
  const next: KeyRecord = { ...record, ...patch, id: record.id, updated_at: new Date().toISOString() };
  await store(c.env).put(hash, next);
  return c.json(next);
});

keysApp.delete("/:id", async (c) => {
  const { hash, record } = await load(c.env, c.req.param("id"));
  const now = new Date().toISOString();
  const next: KeyRecord = { ...record, active: false, revoked_at: record.revoked_at ?? now, updated_at: now };
  await store(c.env).put(hash, next);
  return c.json(next);
});
