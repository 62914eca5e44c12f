/**
 * Reading resources a key owns. Lists come from the ownership table (a key lists only what it may see, paged by
 * `nextPageToken`), each item read fresh from the upstream so states are current; an item the upstream no longer
 * has (expired, deleted elsewhere) is marked gone and left out.
 */
import { badRequest } from "../../gemini/errors";
import type { Kind, ResourceRow } from "../../resources/store";
import { vanished } from "../../resources/vanished";
import { decodeCursor, encodeCursor } from "../../usage/queries";
import { json, pageSize, type ResourceCall } from "./call";

type Obj = Record<string, unknown>;

/**
 * The upstream's current object of an owned resource; one the upstream no longer has (src/resources/vanished.ts:
 * a 404, or Gemini's 403 for a missing file or cache, never a refusal of the credential) is marked gone here, and
 * the error passed on.
 */
export async function readOwn(call: ResourceCall, row: ResourceRow, path = `${call.version}/${row.name}`): Promise<Obj> {
  try {
    return await call.upstream.json(path, { method: "GET", signal: call.req.signal });
  } catch (e) {
    if (vanished(e)) await call.store.setState(row.name, "gone");
    throw e;
  }
}

export async function listOwn(
  call: ResourceCall,
  kind: Kind,
  field: string,
  observe: (row: ResourceRow, obj: Obj) => Promise<Obj> | Obj = (_, o) => o,
): Promise<Response> {
  const limit = pageSize(call.url);
  const token = call.url.searchParams.get("pageToken") || undefined;
  const cursor = token ? decodeCursor(token) : undefined;
  if (token && !cursor) throw badRequest("pageToken is not valid: pass nextPageToken from the previous page unchanged");
  const rows = await call.store.list(call.key, kind, cursor && { ts: cursor.ts, name: cursor.requestId }, limit + 1);
  const page = rows.slice(0, limit);
  const items = await Promise.all(
    page.map(async (row) => {
      try {
        return await observe(row, await readOwn(call, row));
      } catch (e) {
        if (vanished(e)) return undefined;
        throw e;
      }
    }),
  );
  const last = page.at(-1);
  return json({
    [field]: items.filter((x) => x !== undefined),
    ...(rows.length > limit && last ? { nextPageToken: encodeCursor(last.created_at, last.name) } : {}),
  });
}
