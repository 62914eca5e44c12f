/**
 * Parses a `/genai/...` path from its raw (still percent-encoded) form, so a `%2F` inside a model survives routing
 * and is decoded exactly once, here. Model paths come in the spellings clients send:
 *   /genai/{v}/models/{model}[:{action}]      {model} = provider/model (literal or %2F slash), or a Gemini name
 *   /genai/{v}/{provider}/{model}[:{action}]  what @ai-sdk/google, LangChain and @google/generative-ai send
 * Everything else under /genai is a resource path (files, caches, batches, operations, uploads, the Live socket).
 */
import { GatewayError, notFound } from "../gemini/errors";
import { ACTIONS, type Action } from "../gemini/schema";
import { parseTarget, printable, RESERVED_NAMES, targetString, type Target } from "../lib/target";

export type GenaiRoute =
  | { kind: "list"; version: string }
  | { kind: "get"; version: string; target: Target; raw: string }
  | ActionRoute
  | ResourceRoute;

/**
 * A POST of a model action. A bad model or action is kept as a value in `invalid` rather than thrown, so the call
 * can still be attributed to its key (and counted) once the key is known. `model` is the canonical
 * `provider/model` when the model parsed, else the caller's string (bounded).
 */
export type ActionRoute = { kind: "action"; version: string; model: string; actionName: string } & (
  | { target: Target; action: Action; invalid?: undefined }
  | { target?: undefined; action?: undefined; invalid: GatewayError }
);

/** A path under a resource collection (`files`, `cachedContents`, …), `upload/{v}/…` or the Live socket. */
export interface ResourceRoute {
  kind: "resource";
  /** `v1beta`, `v1`, `v1alpha`, or `upload`/`ws` for those prefixes. */
  version: string;
  /** The raw path after `/genai/{version}/`. */
  rest: string;
}

export const VERSIONS: ReadonlySet<string> = new Set(["v1beta", "v1", "v1alpha"]);

/** Model actions that create resources (batches, long-running operations): served by the resource routes. */
const RESOURCE_ACTIONS: ReadonlySet<string> = new Set(["batchGenerateContent", "asyncBatchEmbedContent", "predictLongRunning"]);

const ACTION_SET = new Set<string>(ACTIONS);

export function parseGenaiPath(method: string, pathname: string, providers: ReadonlySet<string>): GenaiRoute {
  // @google/genai builds its Live URL as `${baseUrl}/ws/...` without trimming a base URL's trailing slash.
  if (pathname.startsWith("/genai//ws/")) pathname = `/genai${pathname.slice(7)}`;
  const m = /^\/genai\/([^/]+)(?:\/(.*))?$/.exec(pathname);
  const version = m?.[1] ?? "";
  const rest = m?.[2] ?? "";
  if (!m) throw noRoute(method, pathname);
  if (!VERSIONS.has(version)) {
    if (version === "upload" || version === "ws" || version === "download") return { kind: "resource", version, rest };
    throw noRoute(method, pathname);
  }
  if (rest === "models") {
    if (method !== "GET") throw wrongMethod(method, pathname, "GET");
    return { kind: "list", version };
  }
  const first = rest.split("/", 1)[0]!;
  let modelPart: string;
  let separated: boolean;
  if (first === "models" && rest.length > 7) {
    modelPart = rest.slice(7);
    separated = false;
  } else if (providers.has(first) && rest.length > first.length + 1 && !RESERVED_NAMES.has(first)) {
    modelPart = rest;
    separated = true;
  } else if (first && RESERVED_NAMES.has(decodeOnce(first).split(":")[0]!)) {
    return { kind: "resource", version, rest };
  } else {
    throw noRoute(method, pathname);
  }
  // A model's own operations (`models/{m}/operations/{id}`) are resources too.
  if (/\/operations(\/|$)/.test(modelPart)) return { kind: "resource", version, rest };

  const decoded = decodeOnce(modelPart);
  // `models/{m}:{action}` takes POST; `models/{m}` (whose name may hold a colon: `…-v1:0`) takes GET.
  const suffix = decoded.slice(decoded.lastIndexOf(":") + 1);
  const takes = decoded.includes(":") && (ACTION_SET.has(suffix) || RESOURCE_ACTIONS.has(suffix)) ? "POST" : "GET";
  if (method === "GET") {
    if (takes === "POST") throw wrongMethod(method, pathname, takes);
    const target = parseTarget(modelFrom(modelPart, decoded, separated));
    return { kind: "get", version, target, raw: targetString(target) };
  }
  if (method !== "POST") throw wrongMethod(method, pathname, takes);
  const colon = decoded.lastIndexOf(":");
  if (colon < 0) throw notFound(`no route for POST ${printable(pathname)}: expected models/{model}:{action}`);
  const actionName = decoded.slice(colon + 1).slice(0, 100);
  const rawModel = decoded.slice(0, colon);
  const call = { kind: "action" as const, version, actionName, model: printable(rawModel, 300) };
  if (!ACTION_SET.has(actionName)) {
    if (RESOURCE_ACTIONS.has(actionName)) return { kind: "resource", version, rest };
    return { ...call, invalid: new GatewayError(400, `unknown action "${printable(actionName, 100)}": expected one of ${ACTIONS.join(", ")}`) };
  }
  try {
    const target = parseTarget(modelFrom(modelPart.slice(0, modelPart.length - (decoded.length - colon)), rawModel, separated));
    return { ...call, model: targetString(target), target, action: actionName as Action };
  } catch (e) {
    return { ...call, invalid: e as GatewayError };
  }
}

/**
 * The model string, after checking where the path encoded a slash: `%2F` may only separate the provider from the
 * model (`openai%2Fgpt-4o-mini`, `models%2Fgemini-2.0-flash`); a second one, or any in `/{provider}/{model}`, would
 * let a segment such as `..` hide inside what looks like one model name.
 */
export function modelFrom(raw: string, decoded: string, separated: boolean): string {
  const body = raw.replace(/^models(%2F|\/)/i, "");
  const encoded = body.match(/%2F/gi)?.length ?? 0;
  const literal = body.indexOf("/");
  const firstEncoded = body.search(/%2F/i);
  if ((separated && encoded) || encoded > 1 || (encoded === 1 && literal >= 0 && literal < firstEncoded)) {
    throw new GatewayError(400, `invalid model "${printable(decoded)}": an encoded slash (%2F) may only separate the provider from the model`);
  }
  return decoded;
}

export function decodeOnce(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new GatewayError(400, "invalid percent-encoding in the path");
  }
}

const noRoute = (method: string, path: string) => notFound(`no route for ${method} ${printable(path)}`);

// The contract answers every unknown (method, path) with 404; the message says which method the path takes.
const wrongMethod = (method: string, path: string, takes: "GET" | "POST") =>
  notFound(`no route for ${method} ${printable(path)} (this path takes ${takes})`);
