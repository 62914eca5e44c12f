/**
 * Context caches (`cachedContents`): create, list, get, patch (TTL or expiry), delete. A cache's model must be a
 * Gemini model the key may use; what it caches may use only the key's own files. Creating one counts a request and
 * reserves (then is charged) its tokens at the cached-input price.
 */
import * as z from "zod/mini";
import { badRequest, GatewayError } from "../../gemini/errors";
import { Content, describeIssues, type UsageMetadata } from "../../gemini/schema";
import { estimateInput } from "../../governance/worst-case";
import { inspectBody, readJson } from "../../pipeline/body";
import { parseTarget, targetString } from "../../plan/target";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf } from "../../resources/store";
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

  // Cached tokens are charged at the cached-input price (the hourly storage is not metered here).
  const tokens = estimateInput("generateContent", { contents: parsed.data.contents ?? [], systemInstruction: parsed.data.systemInstruction } as never);
  const price = config.price(t.provider, t.model);
  await call.admit({ tokens, usd: price ? (tokens * (price.cached_input ?? price.input)) / 1e6 : 0 });

  // Not cut by the client's signal: a create runs to its end, and what Gemini creates is recorded or undone.
  const answer = await call.upstream.json<{ name?: unknown; usageMetadata?: { totalTokenCount?: number } }>(`${call.version}/cachedContents`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, model: `models/${t.model}` }),
  });
  if (typeof answer.name !== "string" || !/^cachedContents\/[A-Za-z0-9_-]{1,128}$/.test(answer.name)) {
    throw new GatewayError(502, "gemini: the cache's answer names no cache");
  }
  // Charged whether or not it is kept: Gemini counted its tokens.
  const n = answer.usageMetadata?.totalTokenCount ?? 0;
  call.usage = { promptTokenCount: n, cachedContentTokenCount: n, totalTokenCount: n } satisfies UsageMetadata;
  const name = answer.name;
  await keepCreated(call, "cache", name, () => call.store.create(ownerOf(call.key), { name, kind: "cachedContent", model: targetString(t) }));
  return json(answer);
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
  const answer = await call.upstream.json(`${call.version}/${row.name}${mask ? `?updateMask=${encodeURIComponent(mask)}` : ""}`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: call.req.signal,
  });
  return json(answer);
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
