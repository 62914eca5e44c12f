/**
 * Parses `/genai/{v}/models[/{model}[:{action}]]` from the raw (still percent-encoded) path, so a `%2F` inside
 * the model survives routing and is decoded exactly once, here.
 */
import { GatewayError, notFound } from "../gemini/errors";
import { ACTIONS, type Action } from "../gemini/schema";
import { parseTarget, type Target } from "../plan/target";

export type GenaiRoute =
  | { kind: "list"; version: string }
  | { kind: "get"; version: string; target: Target; raw: string }
  | ActionRoute;

/**
 * A POST to `models/{model}:{action}`. A bad model or action is kept as a value in `invalid` rather than thrown, so
 * the call can still be attributed to its key (and logged) once the key is known.
 */
export type ActionRoute = { kind: "action"; version: string; raw: string; actionName: string } & (
  | { target: Target; action: Action; invalid?: undefined }
  | { target?: undefined; action?: undefined; invalid: GatewayError }
);

const VERSIONS = new Set(["v1beta", "v1"]);
const ACTION_SET = new Set<string>(ACTIONS);

export function parseGenaiPath(method: string, pathname: string): GenaiRoute {
  const m = /^\/genai\/([^/]+)\/models(?:\/(.+))?$/.exec(pathname);
  if (!m || !VERSIONS.has(m[1]!)) throw notFound(`no route for ${method} ${pathname.slice(0, 200)}`);
  const version = m[1]!;
  const rest = m[2];
  if (rest === undefined) {
    if (method !== "GET") throw methodNotAllowed(method, pathname);
    return { kind: "list", version };
  }
  const decoded = decode(rest);
  if (method === "GET") {
    if (decoded.includes(":") && ACTION_SET.has(decoded.slice(decoded.lastIndexOf(":") + 1))) {
      throw methodNotAllowed(method, pathname);
    }
    return { kind: "get", version, target: parseTarget(decoded), raw: decoded };
  }
  if (method !== "POST") throw methodNotAllowed(method, pathname);
  const colon = decoded.lastIndexOf(":");
  if (colon < 0) throw notFound(`no route for POST ${pathname.slice(0, 200)}: expected models/{model}:{action}`);
  const raw = decoded.slice(0, colon);
  const actionName = decoded.slice(colon + 1).slice(0, 100);
  const call = { kind: "action" as const, version, raw, actionName };
  if (!ACTION_SET.has(actionName)) {
    return { ...call, invalid: new GatewayError(400, `unknown action "${actionName}": expected one of ${ACTIONS.join(", ")}`) };
  }
  try {
    return { ...call, target: parseTarget(raw), action: actionName as Action };
  } catch (e) {
    return { ...call, invalid: e as GatewayError };
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new GatewayError(400, "invalid percent-encoding in model");
  }
}

// The contract answers every unknown (method, path) with 404; the message says which method the path takes.
const methodNotAllowed = (method: string, path: string) =>
  notFound(`no route for ${method} ${path.slice(0, 200)} (this path takes ${method === "GET" ? "POST" : "GET"})`);
