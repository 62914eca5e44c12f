/** Admin request bodies: JSON validated by a zod schema, 400 with the reasons otherwise. */
import type { Context } from "hono";
import type * as z from "zod/mini";
import { badRequest, GatewayError } from "../../gemini/errors";
import type { WriteResult } from "../../governance/protocol";
import { describeIssues } from "../../gemini/schema";

export async function parseJson<S extends z.ZodMiniType>(c: Context, schema: S): Promise<z.infer<S>> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw badRequest("request body must be valid JSON");
  }
  const r = schema.safeParse(json);
  if (!r.success) throw badRequest(`invalid request: ${describeIssues(r.error.issues)}`);
  return r.data as z.infer<S>;
}

/** Query parameters validated by a zod schema (strict ones reject unknown names), 400 with the reasons otherwise. */
export function parseQuery<S extends z.ZodMiniType>(c: Context, schema: S): z.infer<S> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) throw badRequest(`invalid query: ${describeIssues(r.error.issues, "query")}`);
  return r.data as z.infer<S>;
}

export function pageLimit(raw: string | undefined, def = 100, max = 1000): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw badRequest(`limit must be an integer from 1 to ${max}`);
  return n;
}

/** `If-Match: "<revision>"` (or without quotes): the revision a conditional write is based on. */
export function ifRevision(c: Context): number | undefined {
  const h = c.req.header("if-match");
  if (h === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h);
  if (!m) throw badRequest('If-Match must be a record\'s revision, e.g. If-Match: "3"');
  return Number(m[1]);
}

/** A Governor's answer to an admin write: the record, or its refusal as the error to answer. */
export function written<T>(r: WriteResult<T>): T {
  if (r.ok) return r.record;
  throw new GatewayError(r.code, r.message);
}
