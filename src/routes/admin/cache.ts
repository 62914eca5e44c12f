/**
 * `DELETE /admin/cache?key_id=…|team_id=…`: every response cache entry of that scope becomes unreachable at once.
 * No scan: the scope's generation, part of every entry's key (src/cache/entry-key.ts), changes in the key's or
 * team's record through its Governor, the one writer; the entries themselves expire with their TTL.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { audit } from "../../audit/trail";
import { badRequest, notFound } from "../../gemini/errors";
import { governor } from "../../lib/governors";
import { invalidateLease } from "../../governance/lease";
import { forgetTeam, TeamStore } from "../../governance/team-store";
import type { KeyRecord } from "../../keys/key-record";
import { isRecordId, KeyStore } from "../../keys/key-store";
import type { TeamRecord } from "../../governance/team-record";
import { written } from "./json";

export const cacheApp = new Hono<AppEnv>();

cacheApp.delete("/", async (c) => {
  const keyId = c.req.query("key_id");
  const teamId = c.req.query("team_id");
  if ((keyId === undefined) === (teamId === undefined)) throw badRequest("give one of key_id or team_id");
  // A new generation: any number other than every earlier one (the time, one past the last if the clock lags).
  const next = (cur: number | undefined) => Math.max(Date.now(), (cur ?? 0) + 1);
  if (keyId !== undefined) {
    const gov = governor(c.env, "key", keyId);
    let cur = (isRecordId(keyId) ? await gov.readKey() : null) as KeyRecord | null;
    if (!cur && isRecordId(keyId)) {
      // A key from before Governors kept records: hand the Governor its record once.
      const old = await new KeyStore(c.env.VIRTUAL_KEYS).byId(keyId);
      if (old) {
        await gov.adoptKey(old.record);
        cur = (await gov.readKey()) as KeyRecord | null;
      }
    }
    if (!cur) throw notFound(`key "${keyId.slice(0, 200)}" not found`);
    const generation = next(cur.cache_generation);
    written(await gov.updateKey({ kind: "patch", fields: { cache_generation: generation } }));
    // This isolate's calls see the new record at once; others when their lease is renewed (README, "Response cache").
    invalidateLease("key", keyId);
    await audit(c.env, c.var.actor, "cache.clear", keyId, { cache_generation: { before: cur.cache_generation ?? 0, after: generation } });
    return c.json({ key_id: keyId, cache_generation: generation });
  }
  const id = teamId!;
  const gov = governor(c.env, "team", id);
  let cur = (isRecordId(id) ? await gov.readTeam() : null) as TeamRecord | null;
  if (!cur && isRecordId(id)) {
    const old = await new TeamStore(c.env.VIRTUAL_KEYS).get(id);
    if (old) cur = written(await gov.createTeam(old));
  }
  if (!cur) throw notFound(`team "${id.slice(0, 200)}" not found`);
  const generation = next(cur.cache_generation);
  written(await gov.updateTeam({ cache_generation: generation }));
  forgetTeam(id);
  invalidateLease("team", id);
  await audit(c.env, c.var.actor, "cache.clear", id, { cache_generation: { before: cur.cache_generation ?? 0, after: generation } });
  return c.json({ team_id: id, cache_generation: generation });
});
