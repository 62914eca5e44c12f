/**
 * /genai: every inference path as a Hono route, in the order they are tried. Paths are matched on their raw,
 * still percent-encoded form (src/app.ts), so a `%2F` inside a model survives routing: the model routes share one
 * matcher for `{model}[:{action}]` (src/routes/model-path.ts). Each path that takes some methods answers the others
 * with a 404 naming what it takes; anything else is `unrouted`. The table is docs/routes.md's, checked by
 * test/core/route-table.test.ts.
 */
import { Hono, type Context, type Next } from "hono";
import type { AppEnv } from "../env";
import { notFound } from "../gemini/errors";
import { printable, RESERVED_NAMES, type Target } from "../lib/target";
import { createAuthToken } from "./live/auth-tokens";
import { LIVE_RPC, liveConnect } from "./live/connect";
import { modelAction } from "./model-action";
import { decodeOnce, isProviderSegment, matchModel, noRoute, operationOf, RESOURCE_ACTIONS, wrongMethod } from "./model-path";
import { modelsRoute } from "./models";
import { requestId } from "./request-id";
import { cancelBatch, createBatch, deleteBatch, getBatch, listBatches, type BatchAction } from "./resources/batches";
import { createCache, deleteCache, getCache, listCaches, patchCache } from "./resources/caches";
import { notGemini, serveResource, type ResourceCall } from "./resources/call";
import { deleteFile, downloadFile, getFile, listFiles, uploadChunk, uploadStart } from "./resources/files";
import { getOperation, predictLongRunning } from "./resources/operations";
import { selfKeyRoute } from "./self-key";

type C = Context<AppEnv>;

export const genaiApp = new Hono<AppEnv>();

genaiApp.use("*", requestId);

const V = "/:v{v1(?:beta|alpha)?}";
const ID = ":id{[A-Za-z0-9_-]{1,128}}";
const MODEL = ":model{.+}";
const DOWNLOAD = ":id{[A-Za-z0-9_-]{1,128}:download}";
const CANCEL = ":id{[A-Za-z0-9_-]{1,128}:cancel}";

/** A GET route. Hono would answer HEAD with it; a HEAD goes on to the path's 404 instead, as for any other method. */
const onGet = (path: string, handle: (c: C) => Response | Promise<Response>) =>
  genaiApp.get(path, (c, next: Next) => (c.req.method === "HEAD" ? next() : handle(c)));

// The calling key about itself.
onGet("/edgeway/key", selfKeyRoute);
genaiApp.all("/edgeway/key", (c) => {
  throw wrongMethod(c.req.method, c.req.path, "GET");
});

// The Live API: the WebSocket, and ephemeral tokens for it.
onGet(`/ws/:rpc{${LIVE_RPC}}`, (c) => liveConnect(c, c.req.param("rpc")!.split(".")[3]!));
genaiApp.all(`/ws/:rpc{${LIVE_RPC}}`, (c) => {
  throw wrongMethod(c.req.method, c.req.path, "GET");
});
genaiApp.post(`${V}/auth_tokens`, createAuthToken);
genaiApp.all(`${V}/auth_tokens`, (c) => {
  throw notFound(`no route for ${c.req.method} /genai/${c.req.param("v")}/auth_tokens (this path takes POST)`);
});

// Models, model actions, and what a model action creates (a batch, a long-running operation) or polls.
onGet(`${V}/models`, (c) => modelsRoute(c, { kind: "list" }));
genaiApp.all(`${V}/models`, (c) => {
  throw wrongMethod(c.req.method, c.req.path, "GET");
});
onGet(`${V}/models/${MODEL}/operations/${ID}`, (c) => modelOperation(c, false));
genaiApp.on(["GET", "POST"], `${V}/models/${MODEL}`, (c) => modelPath(c, false));
genaiApp.all(`${V}/models/${MODEL}`, (c) => modelPath(c, false));

// Files, uploads and downloads.
genaiApp.post(`/upload${V}/files`, (c) => {
  const id = c.req.query("upload_id");
  return id === undefined
    ? serveResource(c, c.req.param("v")!, "files.upload", undefined, uploadStart)
    : serveResource(c, c.req.param("v")!, "files.uploadChunk", undefined, (call) => uploadChunk(call, id));
});
onGet(`/download${V}/files/${DOWNLOAD}`, resource("files.download", downloadFile));
onGet(`${V}/files`, resource("files.list", listFiles));
onGet(`${V}/files/${ID}`, resource("files.get", getFile));
genaiApp.delete(`${V}/files/${ID}`, resource("files.delete", deleteFile));
onGet(`${V}/files/${DOWNLOAD}`, resource("files.download", downloadFile));
// Context caches.
onGet(`${V}/cachedContents`, resource("cachedContents.list", listCaches));
genaiApp.post(`${V}/cachedContents`, resource("cachedContents.create", createCache));
onGet(`${V}/cachedContents/${ID}`, resource("cachedContents.get", getCache));
genaiApp.patch(`${V}/cachedContents/${ID}`, resource("cachedContents.patch", patchCache));
genaiApp.delete(`${V}/cachedContents/${ID}`, resource("cachedContents.delete", deleteCache));
// Batches and operations.
onGet(`${V}/batches`, resource("batches.list", listBatches));
onGet(`${V}/batches/${ID}`, resource("batches.get", getBatch));
genaiApp.delete(`${V}/batches/${ID}`, resource("batches.delete", deleteBatch));
genaiApp.post(`${V}/batches/${CANCEL}`, resource("batches.cancel", cancelBatch));
onGet(`${V}/operations/${ID}`, resource("operations.get", getOperation));
for (const path of ["files", `files/${ID}`, `files/${DOWNLOAD}`, "cachedContents", `cachedContents/${ID}`, "batches", `batches/${ID}`, `batches/${CANCEL}`, `operations/${ID}`]) {
  genaiApp.all(`${V}/${path}`, (c) => {
    const v = c.req.param("v")!;
    throw notFound(`no route for ${c.req.method} /genai/${v}/${printable(c.req.path.slice(v.length + 8))} (wrong method)`);
  });
}

// The models of a provider in the spelling that puts its name first (`/genai/v1beta/openai/gpt-4o-mini:…`).
onGet(`${V}/:provider/${MODEL}/operations/${ID}`, (c) => modelOperation(c, true));
genaiApp.on(["GET", "POST"], `${V}/:provider/${MODEL}`, (c) => modelPath(c, true));
genaiApp.all(`${V}/:provider/${MODEL}`, (c) => modelPath(c, true));

genaiApp.all("*", unrouted);

/** A resource route's handler: the call (src/routes/resources/call.ts) with the path's id, the row's action. */
function resource(action: string, handle: (call: ResourceCall, id: string) => Promise<Response>) {
  return (c: C) => {
    const id = c.req.param("id") ?? "";
    return serveResource(c, c.req.param("v")!, action, undefined, (call) => handle(call, id.split(":", 1)[0]!));
  };
}

/** The raw `{model}…` part of a model path, or undefined when a `/{provider}/…` path names no provider. */
function modelPart(c: C, separated: boolean): string | undefined {
  const part = c.req.path.slice(c.req.param("v")!.length + 8 + (separated ? 0 : 7));
  if (separated && !isProviderSegment(part.split("/", 1)[0]!, c.var.config.providerNames)) return undefined;
  return part;
}

function modelPath(c: C, separated: boolean): Promise<Response> | Response {
  const part = modelPart(c, separated);
  if (part === undefined) return unrouted(c);
  const v = c.req.param("v")!;
  const m = matchModel(c.req.method, c.req.path, v, part, separated);
  switch (m.kind) {
    case "get":
      return modelsRoute(c, m);
    case "action":
      return modelAction(c, m);
    case "create":
      return createFrom(c, v, m.target, m.action);
  }
}

function createFrom(c: C, v: string, target: Target, action: string): Promise<Response> {
  const rowAction = RESOURCE_ACTIONS[action]!;
  if (action === "predictLongRunning") return serveResource(c, v, rowAction, target, (call) => predictLongRunning(call, target));
  return serveResource(c, v, rowAction, target, (call) => createBatch(call, target, action as BatchAction));
}

function modelOperation(c: C, separated: boolean): Promise<Response> {
  const part = modelPart(c, separated);
  if (part === undefined) return unrouted(c);
  const op = operationOf(part, separated);
  if (!op) throw noRoute(c.req.method, c.req.path);
  if (op.target.provider !== "gemini") throw notGemini(op.target);
  return serveResource(c, c.req.param("v")!, "operations.get", undefined, (call) => getOperation(call, op.id));
}

/**
 * No route: a 404 `no route for {method} {path}`. A path under a Gemini resource's name that is no route is told
 * after its name is decoded (a bad percent-encoding there is a 400).
 */
function unrouted(c: C): never {
  const { method, path } = c.req;
  const m = /^\/genai\/([^/]+)(?:\/(.*))?$/.exec(path);
  if (m) {
    const version = m[1]!;
    const rest = m[2] ?? "";
    const first = rest.split("/", 1)[0]!;
    const named = version === "upload" || version === "download" || version === "ws"
      || (/^v1(?:beta|alpha)?$/.test(version) && first !== "" && RESERVED_NAMES.has(decodeOnce(first).split(":")[0]!));
    if (named) throw notFound(`no route for ${method} /genai/${version}/${printable(rest)}`);
  }
  throw noRoute(method, path);
}
