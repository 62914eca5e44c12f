/**
 * Context caches (`cachedContents`): create, list, get, patch (TTL or expiry), delete. A cache's model must be a
 * Gemini model the key may use; what it caches may use only the key's own files. Creating one counts a request and
 * reserves (then is charged) its tokens at the cached-input price, and its storage (`cache_storage_per_hour` × its
 * tokens × hours until it expires); a PATCH that moves the expiry later is charged the storage of the hours added.
 */
import * as z from "zod/mini";
import { badRequest, GatewayError } from "../../gemini/errors";
import { Content, describeIssues, type UsageMetadata } from "../../gemini/schema";
import { estimateInput } from "../../governance/worst-case";
import { inspectBody, readJson } from "../../pipeline/body";
import { parseTarget, targetString } from "../../lib/target";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf, type ResourceRow } from "../../resources/store";
import { costOf, EMPTY_BILLABLE } from "../../usage/cost";
import { json, notFoundError, type ResourceCall } from "./call";
import { keepCreated } from "./created";
import { listOwn, readOwn } from "./listing";

const CacheBody = z.looseObject({
  model: z.string(),
  contents: z.optional(z.array(Content)),
  systemInstruction: z.optional(Content),
});

/** A PATCH changes `ttl` or `expireTime` (and the display name): small JSON. */
const MAX_PATCH_BYTES = 64 * 1024;

export async function createCache(call: ResourceCall): Promise<Response> {
  const { config } = call.scope;
  const raw = await readJson(call.req, config.maxBodyBytes);
  // Walked before the schema reads it (a body built to nest deeply is refused first); not an object: no references.
  const references = raw && typeof raw === "object" && !Array.isArray(raw) ? inspectBody(raw) : { caches: [], fileUris: [] };
  const parsed = CacheBody.safeParse(raw);
  if (!parsed.success) throw badRequest(`invalid cachedContents request: ${describeIssues(parsed.error.issues)}`);
  const body = raw as Record<string, unknown>;
  const t = parseTarget(parsed.data.model);
  call.useModel(t);
  await assertReferencesOwned(call.c.env, call.key, references);

  // Cached tokens are charged at the cached-input price, plus their storage for the cache's life.
  const tokens = estimateInput("generateContent", { contents: parsed.data.contents ?? [], systemInstruction: parsed.data.systemInstruction } as never);
  const price = config.price(t.provider, t.model);
  const hours = requestedHours(body, Date.now());
  await call.admit({ tokens, usd: price ? costOf(price, { ...EMPTY_BILLABLE, cached: { TEXT: tokens }, prompt: { TEXT: tokens }, cache_token_hours: tokens * hours }).usd : 0 });

  // Not cut by the client's signal: a create runs to its end, and what Gemini creates is recorded or undone.
  const answer = await call.upstream.json<{ name?: unknown; createTime?: unknown; expireTime?: unknown; usageMetadata?: { totalTokenCount?: number } }>(`${call.version}/cachedContents`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, model: `models/${t.model}` }),
  });
  if (typeof answer.name !== "string" || !/^cachedContents\/[A-Za-z0-9_-]{1,128}$/.test(answer.name)) {
    throw new GatewayError(502, "gemini: the cache's answer names no cache");
  }
  const n = answer.usageMetadata?.totalTokenCount ?? 0;
  // Gemini's own clock for both ends of the lifetime (createTime, expireTime); the gateway's when it says neither.
  const now = instant(answer.createTime) ?? Date.now();
  const until = expiryOf(answer, now);
  const meta: CacheMeta = { tokens: n, paid_until: until };
  // Charged whether or not it is kept: Gemini counted its tokens.
  call.usage = { promptTokenCount: n, cachedContentTokenCount: n, totalTokenCount: n } satisfies UsageMetadata;
  const name = answer.name;
  await keepCreated(call, "cache", name, () =>
    call.store.create(ownerOf(call.key), { name, kind: "cachedContent", model: targetString(t), meta: JSON.stringify(meta) }),
  );
  // Its storage only once it is kept (one undone was deleted upstream).
  call.units = { cache_token_hours: storageHours(n, now, until) };
  return json(answer);
}

/** What a cache's row keeps for its storage charges: its tokens, and the expiry its storage is paid until (ms). */
interface CacheMeta {
  tokens: number;
  paid_until: number;
}

const HOUR_MS = 3_600_000;
/** Gemini's default TTL when a create names neither `ttl` nor `expireTime`. */
const DEFAULT_TTL_HOURS = 1;
/** A TTL or expiry a caller may ask for is charged at most this far ahead (a year). */
const MAX_HOURS = 24 * 366;

/** Token-hours of storage from `from` to `until`. */
const storageHours = (tokens: number, from: number, until: number) => (tokens * Math.min(Math.max(0, until - from), MAX_HOURS * HOUR_MS)) / HOUR_MS;

/** The hours a create or patch asks for (`ttl` "3600s" or `expireTime`), for the reservation. */
function requestedHours(body: Record<string, unknown>, now: number): number {
  const ttl = typeof body.ttl === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(body.ttl) : null;
  if (ttl) return Math.min(Number(ttl[1]) / 3600, MAX_HOURS);
  const at = typeof body.expireTime === "string" ? Date.parse(body.expireTime) : NaN;
  if (Number.isFinite(at)) return Math.min(Math.max(0, at - now) / HOUR_MS, MAX_HOURS);
  return DEFAULT_TTL_HOURS;
}

/** An RFC 3339 time of Gemini's (ms), if it is one. */
function instant(v: unknown): number | undefined {
  const at = typeof v === "string" ? Date.parse(v) : NaN;
  return Number.isFinite(at) ? at : undefined;
}

/** The expiry (ms) Gemini's answer says, else the default TTL's. */
function expiryOf(answer: { expireTime?: unknown }, now: number): number {
  const at = instant(answer.expireTime);
  return at !== undefined ? Math.min(at, now + MAX_HOURS * HOUR_MS) : now + DEFAULT_TTL_HOURS * HOUR_MS;
}

export const listCaches = (call: ResourceCall) => listOwn(call, "cachedContent", "cachedContents");

export async function getCache(call: ResourceCall, id: string): Promise<Response> {
  return json(await readOwn(call, await ownCache(call, id)));
}

export async function patchCache(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownCache(call, id);
  const body = await readJson(call.req, MAX_PATCH_BYTES);
  const mask = call.url.searchParams.get("updateMask");
  if (mask !== null && !/^[A-Za-z_.,]{1,200}$/.test(mask)) throw badRequest("updateMask must list field names, e.g. ttl");
  // A longer life costs storage: the most it can add is reserved first, so a budget cannot be overrun by a PATCH.
  // The call holds its request slot already (src/routes/resources/call.ts): the storage is added to what it holds.
  const meta = parseMeta(row.meta);
  const price = call.target ? call.scope.config.price(call.target.provider, call.target.model) : undefined;
  if (meta && price && body && typeof body === "object" && !Array.isArray(body)) {
    const hours = requestedHours(body as Record<string, unknown>, Date.now());
    await call.reserve({ tokens: 0, usd: costOf(price, { ...EMPTY_BILLABLE, cache_token_hours: meta.tokens * hours }).usd });
  }
  const answer = await call.upstream.json<{ updateTime?: unknown; expireTime?: unknown }>(`${call.version}/${row.name}${mask ? `?updateMask=${encodeURIComponent(mask)}` : ""}`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: call.req.signal,
  });
  await chargeExtension(call, row, answer);
  return json(answer);
}

/**
 * A later expiry is charged the storage of the hours it adds, once: the row's `paid_until` moves with a
 * compare-and-set, so two patches racing charge each hour once. An earlier expiry refunds nothing.
 */
async function chargeExtension(call: ResourceCall, row: ResourceRow, answer: { updateTime?: unknown; expireTime?: unknown }): Promise<void> {
  const meta = parseMeta(row.meta);
  if (!meta) return;
  const now = instant(answer.updateTime) ?? Date.now();
  const until = expiryOf(answer, now);
  const from = Math.max(meta.paid_until, now);
  if (until <= from) return;
  if (!(await call.store.swapMeta(row.name, row.meta, JSON.stringify({ ...meta, paid_until: until } satisfies CacheMeta)))) return;
  call.units = { cache_token_hours: storageHours(meta.tokens, from, until) };
}

function parseMeta(meta: string | null): CacheMeta | undefined {
  try {
    const m = JSON.parse(meta ?? "null") as CacheMeta | null;
    return m && Number.isFinite(m.tokens) && Number.isFinite(m.paid_until) ? m : undefined;
  } catch {
    return undefined;
  }
}

export async function deleteCache(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownCache(call, id);
  const answer = await call.upstream.json(`${call.version}/${row.name}`, { method: "DELETE", signal: call.req.signal });
  await call.store.setState(row.name, "deleted");
  return json(answer);
}

/** The cache if the key may see it. */
async function ownCache(call: ResourceCall, id: string) {
  const row = await call.store.find(call.key, "cachedContent", `cachedContents/${id}`);
  if (!row) throw notFoundError(`cached content "cachedContents/${id}"`);
  call.owned(row);
  return row;
}
