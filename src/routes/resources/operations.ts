/**
 * Long-running operations: `models/{m}:predictLongRunning` (Veo video generation) and their polls,
 * `models/{m}/operations/{id}` and `operations/{id}`. A finished operation's video URIs point at the gateway.
 */
import { badRequest, GatewayError } from "../../gemini/errors";
import { inspectBody, readJson } from "../../pipeline/body";
import { targetString, type Target } from "../../plan/target";
import { geminiDownloads, observeOperation, rewriteDownloads, type Operation, type Sighted } from "../../resources/operations";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf } from "../../resources/store";
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
  await call.admit();
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
