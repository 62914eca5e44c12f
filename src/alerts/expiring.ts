/**
 * `key.expiring`: keys whose `expires_at` falls within the next week, found from the KV key list's metadata (a
 * record is read only for an entry written before the metadata carried the expiry). Run by the cron; each key and
 * expiry is one event (its id is stable), however many runs see it.
 */
import type { Env } from "../env";
import type { KeyRecord } from "../keys/key-record";
import type { KeyListMeta } from "../keys/key-store";
import { keyExpiring } from "./events";
import { enqueue, type AlertDraft } from "./outbox";

export const EXPIRY_NOTICE_MS = 7 * 86_400_000;

export async function expiringKeys(env: Env, now = Date.now()): Promise<AlertDraft[]> {
  const out: AlertDraft[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.VIRTUAL_KEYS.list<KeyListMeta>({ prefix: "key:", cursor });
    for (const k of page.keys) {
      const m = k.metadata;
      if (m?.revoked) continue;
      if (m && "expires_at" in m && !due(m.expires_at, now)) continue;
      const stored = await env.VIRTUAL_KEYS.get<{ record: KeyRecord }>(k.name, "json");
      const r = stored?.record;
      if (r && !r.revoked_at && due(r.expires_at, now)) out.push(keyExpiring({ id: r.id, name: r.name ?? r.id, expires_at: r.expires_at! }, now));
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

const due = (expiresAt: string | null | undefined, now: number) => {
  const t = expiresAt ? Date.parse(expiresAt) : NaN;
  return t > now && t - now <= EXPIRY_NOTICE_MS;
};

/** Queues an event per key expiring within the week. */
export async function queueExpiringKeys(env: Env, now = Date.now()): Promise<number> {
  return enqueue(env.DB, await expiringKeys(env, now), now);
}
