/**
 * Batch mode: `models/{m}:batchGenerateContent` and `models/{m}:asyncBatchEmbedContent` (inline requests or a JSONL
 * file the key uploaded), and `batches` get, list, `:cancel`, delete. A create counts one request and holds the
 * batch's worst case at the batch price until the batch is seen finished (src/resources/batches.ts writes its row).
 */
import { badRequest, GatewayError } from "../../gemini/errors";
import type { Action } from "../../gemini/schema";
import { hold, release } from "../../governance/hold";
import { worstCase } from "../../governance/worst-case";
import { inspectBody, readJson, validateBody } from "../../pipeline/body";
import { parseTarget, printable, targetString, type Target } from "../../lib/target";
import { abandonBatch, batchState, observeBatch, type BatchMeta, type BatchOperation } from "../../resources/batches";
import { scanOf } from "../../resources/line-scan";
import { assertReferencesOwned } from "../../resources/references";
import { ownerOf, type ResourceRow } from "../../resources/store";
import { vanished } from "../../resources/vanished";
import { describeError } from "../../lib/describe-error";
import { json, notFoundError, type ResourceCall } from "./call";
import { keepCreated } from "./created";
import { listOwn, readOwn } from "./listing";

export type BatchAction = BatchMeta["action"];

/** Gemini keeps a batch for 48 hours; its hold outlives that a little (the sweep releases it sooner). */
const HOLD_TTL_MS = 49 * 3600_000;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

export async function createBatch(call: ResourceCall, t: Target, action: BatchAction): Promise<Response> {
  const { config, env, requestId } = call.scope;
  const raw = await readJson(call.req, config.maxBodyBytes);
  const batch = isObject(raw) ? raw.batch : undefined;
  const input = isObject(batch) ? (batch.inputConfig ?? batch.input_config) : undefined;
  if (!isObject(raw) || !isObject(input)) throw badRequest('a batch is {"batch": {"inputConfig": {"requests": {"requests": [...]}} or {"fileName": "files/..."}}}');
  // One input, spelled once: which spelling Gemini reads when a batch carries two is not ours to guess.
  if (isObject(batch) && "inputConfig" in batch && "input_config" in batch) throw badRequest("a batch names its inputConfig twice (inputConfig and input_config): give one");
  const given = ["requests", "fileName", "file_name"].filter((k) => k in input);
  if (given.length > 1) throw badRequest(`a batch's inputConfig names its input twice (${given.join(" and ")}): give one`);
  // The whole body, not only its requests: all of it is sent upstream.
  const references = inspectBody(raw);
  const estimate = await worstOf(call, t, action, input);
  await assertReferencesOwned(env, call.key, references);
  await call.admit();

  const holdId = `batch:${requestId}`;
  const held = await hold(env, call.key, holdId, { tokens: estimate.tokens, usd: estimate.usd }, HOLD_TTL_MS);
  const letGo = () => call.scope.waitUntil(release(env, call.key, holdId).catch((e) => console.error(`batch hold ${holdId}: release failed: ${describeError(e)}`)));
  // Not cut by the client's signal: a create runs to its end, and what Gemini creates is recorded or undone.
  let op: BatchOperation;
  try {
    const upstreamBody = isObject(batch) && typeof batch.model === "string" ? { ...raw, batch: { ...batch, model: `models/${t.model}` } } : raw;
    op = await call.upstream.json<BatchOperation>(`${call.version}/models/${t.model}:${action}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(upstreamBody),
    });
  } catch (e) {
    letGo();
    throw e;
  }
  if (typeof op.name !== "string" || !/^batches\/[A-Za-z0-9_-]{1,128}$/.test(op.name)) {
    letGo();
    throw new GatewayError(502, "gemini: the batch's answer names no batch");
  }
  const name = op.name;
  // Settled with the key's and the team's Governors whatever they meter now: a budget set while the batch runs counts
  // its row exactly once (a Governor that meters nothing takes the settlement and counts nothing).
  const settle = { ...held.refs, key: holdId, ...(call.key.team_id ? { team: holdId } : {}) };
  const meta: BatchMeta = { hold: holdId, settle, requests: estimate.requests, input_tokens: estimate.input, action, version: call.version };
  const row = { name, kind: "batch" as const, model: targetString(t), state: batchState(op).state, meta: JSON.stringify(meta) };
  await keepCreated(call, "batch", name, () => call.store.create(ownerOf(call.key), row), letGo);
  return json(op);
}

/**
 * The most a batch can cost, at the batch price: each inline request's worst case (input estimate and output cap,
 * as for an interactive call); for a file, its bytes as input and the model's output cap per line (request).
 */
async function worstOf(call: ResourceCall, t: Target, action: BatchAction, input: Obj) {
  const { config } = call.scope;
  const one: Action = action === "batchGenerateContent" ? "generateContent" : "embedContent";
  const factor = call.settings.batchPriceFactor;
  const requests = isObject(input.requests) ? input.requests.requests : undefined;
  const fileName = input.fileName ?? input.file_name;
  if (Array.isArray(requests)) {
    if (!requests.length) throw badRequest("a batch needs at least one request");
    let tokens = 0, usd = 0, inputTokens = 0;
    requests.forEach((r, i) => {
      let body;
      try {
        body = validateBody(one, isObject(r) ? r.request : undefined).body;
      } catch (e) {
        throw e instanceof GatewayError ? badRequest(`batch request ${i}: ${e.message}`) : e;
      }
      if (isObject(r)) for (const m of [r.model, (r.request as Obj).model]) assertBatchModel(t, m, `batch request ${i}`);
      const w = worstCase(config, one, body, [t]);
      tokens += w.tokens;
      usd += w.usd;
      inputTokens += w.inputTokens;
    });
    return { requests: requests.length, tokens, usd: usd * factor, input: inputTokens };
  }
  if (typeof fileName !== "string") throw badRequest("a batch's inputConfig needs requests.requests or fileName");
  const file = await call.store.find(call.key, "file", fileName);
  if (!file) throw notFoundError(`file "${fileName.slice(0, 200)}"`);
  // Its lines were read as it was uploaded (src/resources/line-scan.ts): each is checked like an inline request.
  const scan = scanOf(file.meta, file.name);
  scan.models.forEach((m) => assertBatchModel(t, m, `file "${file.name}": a line`));
  await assertReferencesOwned(call.scope.env, call.key, { fileUris: scan.files, caches: scan.caches });
  const lines = Math.max(1, file.lines ?? 1);
  const inputTokens = Math.ceil((file.size_bytes ?? 0) / 4);
  const cap = one === "generateContent" ? worstCase(config, one, { contents: [] } as never, [t]).tokens : 0;
  const price = config.price(t.provider, t.model);
  const tokens = inputTokens + lines * cap;
  const usd = price ? ((inputTokens * price.input + lines * cap * price.output) / 1e6) * factor : 0;
  return { requests: lines, tokens, usd, input: inputTokens };
}

/**
 * A request in a batch may name its model (`request.model`): only the batch's own, since a batch runs one model and
 * the key was checked for that one.
 */
function assertBatchModel(t: Target, m: unknown, where: string): void {
  if (m === undefined) return;
  let named: Target | undefined;
  try {
    named = typeof m === "string" ? parseTarget(m) : undefined;
  } catch {
    named = undefined;
  }
  if (named?.provider !== t.provider || named.model !== t.model) {
    throw badRequest(`${where} names model "${printable(typeof m === "string" ? m : JSON.stringify(m))}", but a batch runs one model, ${targetString(t)}: leave the request's model out or name the batch's`);
  }
}

export const listBatches = (call: ResourceCall) =>
  listOwn(call, "batch", "operations", async (row, op) => {
    await sighted(call, row, op as BatchOperation);
    return op;
  });

export async function getBatch(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownBatch(call, id);
  const op = await read(call, row);
  await sighted(call, row, op);
  return json(op);
}

export async function cancelBatch(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownBatch(call, id);
  return json(await call.upstream.json(`${call.version}/${row.name}:cancel`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}", signal: call.req.signal }));
}

/**
 * Deleting a batch upstream does not stop it, and its usage could no longer be read: a batch still running is
 * refused (cancel it first); a finished one has its usage recorded before it goes.
 */
export async function deleteBatch(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownBatch(call, id);
  if (row.finished_at === null) {
    const op = await read(call, row);
    if (!batchState(op).done) {
      throw new GatewayError(400, `batch "${row.name}" is still running: cancel it (${row.name}:cancel), then delete it once it has finished`, { status: "FAILED_PRECONDITION" });
    }
    await sighted(call, row, op);
  }
  const answer = await call.upstream.json(`${call.version}/${row.name}`, { method: "DELETE", signal: call.req.signal });
  await call.store.setState(row.name, "deleted");
  return json(answer);
}

async function ownBatch(call: ResourceCall, id: string): Promise<ResourceRow> {
  const row = await call.store.find(call.key, "batch", `batches/${id}`);
  if (!row) throw notFoundError(`batch "batches/${id}"`);
  call.owned(row);
  return row;
}

/** The batch as the upstream has it now; one it no longer has is abandoned here too (its hold released). */
async function read(call: ResourceCall, row: ResourceRow): Promise<BatchOperation> {
  try {
    return (await readOwn(call, row)) as BatchOperation;
  } catch (e) {
    if (vanished(e)) await abandonBatch(call.scope.env, row);
    throw e;
  }
}

/** A sighting never fails the caller's request: what could not be done now, the sweep does later. */
async function sighted(call: ResourceCall, row: ResourceRow, op: BatchOperation): Promise<void> {
  try {
    await observeBatch(call.scope.env, call.upstream, row, op, call.scope.waitUntil);
  } catch (e) {
    console.error(`batch ${row.name}: could not record its end now (the sweep will): ${describeError(e)}`);
  }
}
