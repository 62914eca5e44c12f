/**
 * Gemini's resource paths under /genai: files (and uploads), cached contents, batches, long-running operations.
 * Each (method, path) names one handler and the action its usage row carries (docs/resources.md, "Files, caches, batches and
 * operations"). Gemini only for now. The Live API's paths (`/genai/ws/…`, `auth_tokens`) are src/routes/live's.
 */
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { notFound } from "../../gemini/errors";
import { parseTarget, printable, type Target } from "../../lib/target";
import { decodeOnce, modelFrom, VERSIONS, type ResourceRoute } from "../genai-path";
import { createBatch, cancelBatch, deleteBatch, getBatch, listBatches, type BatchAction } from "./batches";
import { createCache, deleteCache, getCache, listCaches, patchCache } from "./caches";
import { notGemini, serveResource, type Handler } from "./call";
import { deleteFile, downloadFile, getFile, listFiles, uploadChunk, uploadStart } from "./files";
import { getOperation, predictLongRunning } from "./operations";

const ID = "([A-Za-z0-9_-]{1,128})";

/** [method, path pattern, row action, handler given the pattern's id]. */
const ROUTES: [string, RegExp, string, (call: Parameters<Handler>[0], id: string) => Promise<Response>][] = [
  ["GET", /^files$/, "files.list", listFiles],
  ["GET", new RegExp(`^files/${ID}$`), "files.get", getFile],
  ["DELETE", new RegExp(`^files/${ID}$`), "files.delete", deleteFile],
  ["GET", new RegExp(`^files/${ID}:download$`), "files.download", downloadFile],
  ["GET", /^cachedContents$/, "cachedContents.list", listCaches],
  ["POST", /^cachedContents$/, "cachedContents.create", createCache],
  ["GET", new RegExp(`^cachedContents/${ID}$`), "cachedContents.get", getCache],
  ["PATCH", new RegExp(`^cachedContents/${ID}$`), "cachedContents.patch", patchCache],
  ["DELETE", new RegExp(`^cachedContents/${ID}$`), "cachedContents.delete", deleteCache],
  ["GET", /^batches$/, "batches.list", listBatches],
  ["GET", new RegExp(`^batches/${ID}$`), "batches.get", getBatch],
  ["DELETE", new RegExp(`^batches/${ID}$`), "batches.delete", deleteBatch],
  ["POST", new RegExp(`^batches/${ID}:cancel$`), "batches.cancel", cancelBatch],
  ["GET", new RegExp(`^operations/${ID}$`), "operations.get", getOperation],
];

/** Model actions that create resources, and the action their row carries. */
const MODEL_ACTIONS: Record<string, string> = {
  batchGenerateContent: "batches.create",
  asyncBatchEmbedContent: "batches.createEmbeddings",
  predictLongRunning: "operations.create",
};

export function resourceRoute(c: Context<AppEnv>, route: ResourceRoute): Promise<Response> {
  const method = c.req.method;
  const { version, rest } = route;
  const url = new URL(c.req.url);
  const noRoute = () => notFound(`no route for ${method} /genai/${version}/${printable(rest)}`);

  // The Live API's socket and ephemeral tokens have their own handler; nothing else lives under their names.
  if (version === "ws" || /^auth_tokens(?:[/:]|$)/.test(rest)) throw noRoute();

  if (version === "upload" || version === "download") {
    const [v, ...tail] = rest.split("/");
    const path = tail.join("/");
    if (!v || !VERSIONS.has(v)) throw noRoute();
    if (version === "upload" && path === "files" && method === "POST") {
      const id = url.searchParams.get("upload_id");
      return id === null
        ? serveResource(c, v, "files.upload", undefined, uploadStart)
        : serveResource(c, v, "files.uploadChunk", undefined, (call) => uploadChunk(call, id));
    }
    const m = new RegExp(`^files/${ID}:download$`).exec(path);
    if (version === "download" && m && method === "GET") return serveResource(c, v, "files.download", undefined, (call) => downloadFile(call, m[1]!));
    throw noRoute();
  }

  for (const [verb, re, action, handle] of ROUTES) {
    const m = re.exec(rest);
    if (!m) continue;
    if (verb !== method) continue;
    return serveResource(c, version, action, undefined, (call) => handle(call, m[1]!));
  }
  if (ROUTES.some(([, re]) => re.test(rest))) throw notFound(`no route for ${method} /genai/${version}/${printable(rest)} (wrong method)`);

  const model = modelRoute(rest, c.var.config.providerNames);
  if (model?.kind === "action" && method === "POST") {
    const { target, action } = model;
    const rowAction = MODEL_ACTIONS[action]!;
    if (action === "predictLongRunning") return serveResource(c, version, rowAction, target, (call) => predictLongRunning(call, target));
    return serveResource(c, version, rowAction, target, (call) => createBatch(call, target, action as BatchAction));
  }
  if (model?.kind === "operation" && method === "GET") {
    const { target, id } = model;
    if (target.provider !== "gemini") throw notGemini(target);
    return serveResource(c, version, "operations.get", undefined, (call) => getOperation(call, id));
  }
  throw noRoute();
}

type ModelRoute = { kind: "action"; target: Target; action: string } | { kind: "operation"; target: Target; id: string };

/**
 * `models/{m}:{action}` and `models/{m}/operations/{id}`, in every spelling a model path takes
 * (`models/gemini/veo-2.0-generate-001`, `models/veo-2.0-generate-001`, `gemini/veo-2.0-generate-001`, `%2F`).
 */
function modelRoute(rest: string, providers: ReadonlySet<string>): ModelRoute | undefined {
  const first = rest.split("/", 1)[0]!;
  const separated = first !== "models";
  if (separated && !providers.has(first)) return undefined;
  const part = separated ? rest : rest.slice(7);
  const ops = part.indexOf("/operations/");
  if (ops >= 0) {
    const id = part.slice(ops + 12);
    if (!new RegExp(`^${ID}$`).test(id)) return undefined;
    const raw = part.slice(0, ops);
    return { kind: "operation", target: parseTarget(modelFrom(raw, decodeOnce(raw), separated)), id };
  }
  const decoded = decodeOnce(part);
  const colon = decoded.lastIndexOf(":");
  const action = decoded.slice(colon + 1);
  if (colon < 0 || !Object.hasOwn(MODEL_ACTIONS, action)) return undefined;
  const raw = part.slice(0, part.length - (decoded.length - colon));
  return { kind: "action", target: parseTarget(modelFrom(raw, decoded.slice(0, colon), separated)), action };
}
