/**
 * The one matcher the model routes share: `{model}[:{action}]` (or `{model}/operations/{id}`) read from the raw,
 * still percent-encoded path, so a `%2F` inside a model survives routing and is decoded exactly once, here. Model
 * paths come in the spellings clients send:
 *   /genai/{v}/models/{model}[:{action}]      {model} = provider/model (literal or %2F slash), or a Gemini name
 *   /genai/{v}/{provider}/{model}[:{action}]  what @ai-sdk/google, LangChain and @google/generative-ai send
 */
import { GatewayError, notFound } from "../gemini/errors";
import { ACTIONS, type Action } from "../gemini/schema";
import { PathMemo } from "../lib/path-memo";
import { parseTarget, printable, RESERVED_NAMES, targetString, type Target } from "../lib/target";

export type ModelPath =
  | { kind: "get"; target: Target; raw: string }
  | ActionRoute
  /** A model action that creates a resource (a batch, a long-running operation). */
  | { kind: "create"; target: Target; action: string };

/**
 * A POST of a model action. A bad model or action is kept as a value in `invalid` rather than thrown, so the call
 * can still be attributed to its key (and counted) once the key is known. `model` is the canonical
 * `provider/model` when the model parsed, else the caller's string (bounded).
 */
export type ActionRoute = { kind: "action"; version: string; model: string; actionName: string } & (
  | { target: Target; action: Action; invalid?: undefined }
  | { target?: undefined; action?: undefined; invalid: GatewayError }
);

/** Model actions that create resources (batches, long-running operations), and the action their row carries. */
export const RESOURCE_ACTIONS: Readonly<Record<string, string>> = {
  batchGenerateContent: "batches.create",
  asyncBatchEmbedContent: "batches.createEmbeddings",
  predictLongRunning: "operations.create",
};

const ACTION_SET = new Set<string>(ACTIONS);
const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** `first` names a provider in the `/{provider}/{model}` spelling: configured, and no Gemini resource's name. */
export const isProviderSegment = (first: string, providers: ReadonlySet<string>) => providers.has(first) && !RESERVED_NAMES.has(first);

/**
 * `part`: the raw path after `/genai/{v}/models/` (or after `/genai/{v}/` when `separated`). `path`: the whole raw
 * path, for the 404's text. Throws the 404 of a wrong method (naming the method the path takes).
 */
export function matchModel(method: string, path: string, version: string, part: string, separated: boolean): ModelPath {
  // A valid action's reading is kept (frozen: it is shared), as the router keeps its matches; anything else is read
  // afresh.
  return actions.get(`${separated ? "s" : "m"} ${method}`, path, () => readModelPath(method, path, version, part, separated), (m) => {
    if (m.kind !== "action" || m.invalid) return false;
    Object.freeze(m.target);
    Object.freeze(m);
    return true;
  });
}

const actions = new PathMemo<ModelPath>(1_000);

function readModelPath(method: string, path: string, version: string, part: string, separated: boolean): ModelPath {
  // A model's own operations are polled with GET on their own route; any other method is no route.
  if (/\/operations(\/|$)/.test(part)) {
    operationOf(part, separated);
    throw noRoute(method, path);
  }
  const decoded = decodeOnce(part);
  // `models/{m}:{action}` takes POST; `models/{m}` (whose name may hold a colon: `…-v1:0`) takes GET.
  const suffix = decoded.slice(decoded.lastIndexOf(":") + 1);
  const takes = decoded.includes(":") && (ACTION_SET.has(suffix) || Object.hasOwn(RESOURCE_ACTIONS, suffix)) ? "POST" : "GET";
  if (method === "GET") {
    if (takes === "POST") throw wrongMethod(method, path, takes);
    const target = parseTarget(modelFrom(part, decoded, separated));
    return { kind: "get", target, raw: targetString(target) };
  }
  if (method !== "POST") throw wrongMethod(method, path, takes);
  const colon = decoded.lastIndexOf(":");
  if (colon < 0) throw notFound(`no route for POST ${printable(path)}: expected models/{model}:{action}`);
  const actionName = decoded.slice(colon + 1).slice(0, 100);
  const rawModel = decoded.slice(0, colon);
  const modelPart = part.slice(0, part.length - (decoded.length - colon));
  const call = { kind: "action" as const, version, actionName, model: printable(rawModel, 300) };
  if (!ACTION_SET.has(actionName)) {
    if (Object.hasOwn(RESOURCE_ACTIONS, actionName)) return { kind: "create", target: parseTarget(modelFrom(modelPart, rawModel, separated)), action: actionName };
    return { ...call, invalid: new GatewayError(400, `unknown action "${printable(actionName, 100)}": expected one of ${ACTIONS.join(", ")}`) };
  }
  try {
    const target = parseTarget(modelFrom(modelPart, rawModel, separated));
    return { ...call, model: targetString(target), target, action: actionName as Action };
  } catch (e) {
    return { ...call, invalid: e as GatewayError };
  }
}

/** `{model}/operations/{id}`: the model (a bad one is a 400) and the id, or undefined when the id is not one. */
export function operationOf(part: string, separated: boolean): { target: Target; id: string } | undefined {
  const ops = part.indexOf("/operations/");
  if (ops < 0) {
    decodeOnce(part);
    return undefined;
  }
  const id = part.slice(ops + 12);
  if (!ID_RE.test(id)) return undefined;
  const raw = part.slice(0, ops);
  return { target: parseTarget(modelFrom(raw, decodeOnce(raw), separated)), id };
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

export const noRoute = (method: string, path: string) => notFound(`no route for ${method} ${printable(path)}`);

// The contract answers every unknown (method, path) with 404; the message says which method the path takes.
export const wrongMethod = (method: string, path: string, takes: "GET" | "POST") =>
  notFound(`no route for ${method} ${printable(path)} (this path takes ${takes})`);
