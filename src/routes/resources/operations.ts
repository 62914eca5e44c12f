/**
 * Long-running operations: `models/{m}:predictLongRunning` (Veo video generation) and their polls,
 * `models/{m}/operations/{id}` and `operations/{id}`. A finished operation's video URIs point at the gateway. A
 * create holds the video it asks for; the operation's end is charged for what it made (src/resources/operations.ts).
 */
import { badRequest, GatewayError } from "../../gemini/errors";
import { hold, release } from "../../governance/hold";
import { describeError } from "../../lib/describe-error";
import { inspectBody, readJson } from "../../pipeline/body";
import { targetString, type Target } from "../../lib/target";
import { abandonOperation, geminiDownloads, observeOperation, rewriteDownloads, type Operation, type OperationMeta, type Sighted } from "../../resources/operations";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf, type ResourceRow } from "../../resources/store";
import { vanished } from "../../resources/vanished";
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
  // Veo bills each second of video it makes: what is asked is held until the operation is seen finished, and the
  // operation's own row then charges what it made (a failed one nothing).
  const ask = videoAsk(body as { parameters?: unknown });
  const price = call.scope.config.price(t.provider, t.model);
  await call.admit();
  const { env, requestId } = call.scope;
  const holdId = `operation:${requestId}`;
  const usd = price ? costOf(price, { ...EMPTY_BILLABLE, video_seconds: ask.seconds * ask.videos }).usd : 0;
  await hold(env, call.key, holdId, { tokens: 0, usd }, HOLD_TTL_MS);
  const letGo = () => call.scope.waitUntil(release(env, call.key, holdId).catch((e) => console.error(`operation hold ${holdId}: release failed: ${describeError(e)}`)));
  // Not cut by the client's signal: a create runs to its end, and what Gemini creates is recorded or undone.
  let op: Operation;
  try {
    op = await call.upstream.json<Operation>(`${call.version}/models/${t.model}:predictLongRunning`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    letGo();
    throw e;
  }
  const m = typeof op.name === "string" ? OPERATION_NAME.exec(op.name) : null;
  if (!m) {
    letGo();
    throw new GatewayError(502, "gemini: the operation's answer names no operation");
  }
  const name = op.name!;
  const owner = ownerOf(call.key);
  const now = Date.now();
  // Settled with the key's and the team's Governors whatever they meter now: a budget set later counts it exactly once
  // (a Governor that meters nothing takes the settlement and counts nothing).
  const meta: OperationMeta = { hold: holdId, settle: { key: holdId, ...(owner.team_id ? { team: holdId } : {}) }, seconds: ask.seconds, videos: ask.videos };
  const row = { name, kind: "operation" as const, alias: `operations/${m[1]}`, model: targetString(t), state: "running", meta: JSON.stringify(meta) };
  await keepCreated(call, "operation", name, () => call.store.create(owner, row, now), letGo);
  return json(await sighted(call, { name, ...owner, updated_at: now, created_at: now, model: row.model, meta: row.meta }, op));
}

/** Gemini keeps an operation's videos for two days; its hold outlives that a little (the sweep releases it sooner). */
const HOLD_TTL_MS = 49 * 3600_000;

/** Veo's defaults when a request leaves them out: 8-second videos, one of them. */
const VEO_DEFAULT_SECONDS = 8;
const MAX_VIDEO_SECONDS = 600;

/** What a `predictLongRunning` asks for: `durationSeconds` of each video, and `sampleCount` videos (Veo's `numberOfVideos`). */
export function videoAsk(body: { parameters?: unknown }): { seconds: number; videos: number } {
  const p = (body.parameters && typeof body.parameters === "object" ? body.parameters : {}) as { durationSeconds?: unknown; sampleCount?: unknown };
  const n = (v: unknown, d: number) => {
    const x = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    return typeof x === "number" && Number.isFinite(x) && x > 0 ? Math.min(Math.ceil(x), MAX_VIDEO_SECONDS) : d;
  };
  return { seconds: n(p.durationSeconds, VEO_DEFAULT_SECONDS), videos: Math.min(n(p.sampleCount, 1), 4) };
}

/** A poll: `models/{m}/operations/{id}` or `operations/{id}` (the model part is not needed to find it). */
export async function getOperation(call: ResourceCall, id: string): Promise<Response> {
  const row = await call.store.find(call.key, "operation", `operations/${id}`);
  if (!row) throw notFoundError(`operation "operations/${id}"`);
  call.owned(row);
  return json(await sighted(call, row, await read(call, row)));
}

/** The operation as the upstream has it now; one it no longer has is charged as asked here (its hold released). */
async function read(call: ResourceCall, row: ResourceRow): Promise<Operation> {
  try {
    return (await readOwn(call, row)) as Operation;
  } catch (e) {
    if (vanished(e)) await abandonOperation(call.scope.env, row, call.scope.waitUntil);
    throw e;
  }
}

/** The operation as the caller sees it: its files adopted by the owner, their download URIs on the gateway. */
async function sighted(call: ResourceCall, row: Sighted, op: Operation): Promise<Operation> {
  const { op: shown, files } = rewriteDownloads(op, call.settings.fileHosts, `${call.url.origin}/genai`);
  await observeOperation(call.scope.env, row, op, files, call.scope.waitUntil);
  return shown;
}
