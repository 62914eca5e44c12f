/**
 * Long-running operations: `models/{m}:predictLongRunning` (Veo video generation) and their polls,
 * `models/{m}/operations/{id}` and `operations/{id}`. A finished operation's video URIs point at the gateway.
 */
import { badRequest, GatewayError } from "../../gemini/errors";
import { inspectBody, readJson } from "../../pipeline/body";
import { targetString, type Target } from "../../lib/target";
import { geminiDownloads, observeOperation, rewriteDownloads, type Operation, type Sighted } from "../../resources/operations";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf } from "../../resources/store";
import { costOf, EMPTY_BILLABLE } from "../../usage/cost";
import { json, notFoundError, type ResourceCall } from "./call";
import { keepCreated } from "./created";
import { readOwn } from "./listing";

const OPERATION_NAME = /^(?:models\/[A-Za-z0-9._-]{1,128}\/)?operations\/([A-Za-z0-9_-]{1,128})$/;

export async function predictLongRunning(call: ResourceCall, t: Target): Promise<Response> {
  const raw = await readJson(call.req, call.scope.config.maxBodyBytes);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw badRequest("request body must be a JSON object");
  // A video to extend, as the gateway showed it: Gemini's own URI goes upstream (and is what ownership is checked on).
  const body = geminiDownloads(raw, call.url.origin);
  await assertReferencesOwned(call.scope.env, call.key, inspectBody(body));
  // Veo bills each second of video it makes: charged as asked when the operation is created (a failed one included).
  const seconds = videoSeconds(body as { parameters?: unknown });
  const price = call.scope.config.price(t.provider, t.model);
  await call.admit({ tokens: 0, usd: price ? costOf(price, { ...EMPTY_BILLABLE, video_seconds: seconds }).usd : 0 });
  call.units = { video_seconds: seconds };
  // Not cut by the client's signal: a create runs to its end, and what Gemini creates is recorded or undone.
  const op = await call.upstream.json<Operation>(`${call.version}/models/${t.model}:predictLongRunning`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const m = typeof op.name === "string" ? OPERATION_NAME.exec(op.name) : null;
  if (!m) throw new GatewayError(502, "gemini: the operation's answer names no operation");
  const name = op.name!;
  const owner = ownerOf(call.key);
  const now = Date.now();
  await keepCreated(call, "operation", name, () =>
    call.store.create(owner, { name, kind: "operation", alias: `operations/${m[1]}`, model: targetString(t), state: "running" }, now),
  );
  return json(await sighted(call, { name, ...owner, updated_at: now }, op));
}

/** Veo's defaults when a request leaves them out: 8-second videos, one of them. */
const VEO_DEFAULT_SECONDS = 8;
const MAX_VIDEO_SECONDS = 600;

/** Seconds of video a `predictLongRunning` asks for: `durationSeconds` × `sampleCount` (Veo's `numberOfVideos`). */
export function videoSeconds(body: { parameters?: unknown }): number {
  const p = (body.parameters && typeof body.parameters === "object" ? body.parameters : {}) as { durationSeconds?: unknown; sampleCount?: unknown };
  const n = (v: unknown, d: number) => {
    const x = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    return typeof x === "number" && Number.isFinite(x) && x > 0 ? Math.min(Math.ceil(x), MAX_VIDEO_SECONDS) : d;
  };
  return n(p.durationSeconds, VEO_DEFAULT_SECONDS) * Math.min(n(p.sampleCount, 1), 4);
}

/** A poll: `models/{m}/operations/{id}` or `operations/{id}` (the model part is not needed to find it). */
export async function getOperation(call: ResourceCall, id: string): Promise<Response> {
  const row = await call.store.find(call.key, "operation", `operations/${id}`);
  if (!row) throw notFoundError(`operation "operations/${id}"`);
  call.owned(row);
  return json(await sighted(call, row, (await readOwn(call, row)) as Operation));
}

/** The operation as the caller sees it: its files adopted by the owner, their download URIs on the gateway. */
async function sighted(call: ResourceCall, row: Sighted, op: Operation): Promise<Operation> {
  const { op: shown, files } = rewriteDownloads(op, call.settings.fileHosts, `${call.url.origin}/genai`);
  await observeOperation(call.scope.env, row, op, files);
  return shown;
}
