/**
 * One resource call (files, caches, batches, operations), shaped like a model action: identify key → call scope →
 * admission check (status, rate limit: before any body is read) → a request slot (a create takes its own, with its
 * worst case, once its body is checked; an upload's chunks ride on its start's) → the handler → respond → record.
 * From the moment the key is known every outcome leaves one usage row or refusal count.
 */
import type { Context } from "hono";
import { assertKeyUsable, assertTargetAllowed, identifyKey } from "../../auth/authenticate";
import type { KeyRecord } from "../../keys/key-record";
import type { AppEnv } from "../../env";
import { badRequest, GatewayError } from "../../gemini/errors";
import type { UsageMetadata } from "../../gemini/schema";
import { Gate, type CallNeed } from "../../governance/gate";
import type { CallScope } from "../../pipeline/context";
import { recordCall, type CallEnd } from "../../pipeline/record";
import { respondError } from "../../pipeline/respond";
import { parseTarget, targetString, type Target } from "../../lib/target";
import { resourceSettings, type ResourceSettings } from "../../resources/settings";
import { ResourceStore, type ResourceRow } from "../../resources/store";
import { Upstream } from "../../resources/upstream";
import type { Outcome } from "../../usage/row";
import { budgetable } from "../model-action";

export interface ResourceCall {
  c: Context<AppEnv>;
  req: Request;
  url: URL;
  /** `v1beta`, `v1` or `v1alpha`: what the caller asked, and what goes upstream. */
  version: string;
  scope: CallScope;
  /** The key's record once admission has heard from its Governor. */
  readonly key: KeyRecord;
  settings: ResourceSettings;
  store: ResourceStore;
  upstream: Upstream;
  /** The model the call concerns (a cache's, a batch's, an operation's), once known: its row names it. */
  target: Target | null;
  /** Tokens the call used (a cache's creation), for its row. */
  usage?: UsageMetadata;
  /** What else it is charged (a cache's storage, a video's seconds), for its row. */
  units?: CallEnd["units"];
  /** Takes the call's request slot and reserves `need` (a create), before anything is created upstream. */
  admit(need?: CallNeed): Promise<void>;
  /** Reserves `more` on top of what the admitted call holds (a cache PATCH's storage), or throws the refusal (402). */
  reserve(more: CallNeed): Promise<void>;
  /** The call concerns this owned resource: its model (if it has one) is the call's, for the row. */
  owned(row: ResourceRow): void;
  /** The model a create names: Gemini only (400), allowed for the key (403), priced if the key has a budget (403). */
  useModel(t: Target): void;
  /**
   * For a streamed answer: the call's row is written when the stream ends (`ended`) rather than when the handler
   * returns. The handler calls `ended` exactly once.
   */
  deferRecord(): (outcome: Outcome, error: string | null) => void;
}

export type Handler = (call: ResourceCall) => Promise<Response>;

/** Actions whose handler takes the request slot itself: creates (with their worst case), and upload chunks (some). */
const SELF_ADMITTED = new Set(["files.upload", "files.uploadChunk", "cachedContents.create", "batches.create", "batches.createEmbeddings", "operations.create"]);

export async function serveResource(c: Context<AppEnv>, version: string, action: string, model: Target | undefined, handle: Handler): Promise<Response> {
  const { requestId, startedAt, config } = c.var;
  const req = c.req.raw;
  const url = new URL(req.url);
  const presented = await identifyKey(req, url, c.env.VIRTUAL_KEYS);
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const gate = new Gate(c.env, waitUntil, presented);
  const scope: CallScope = {
    requestId, startedAt, env: c.env, config, key: presented,
    gate,
    action,
    requestedModel: model ? targetString(model) : "",
    stream: false,
    waitUntil,
  };
  const settings = resourceSettings(c.env);
  const upstream = new Upstream(config);
  let deferred = false;
  let status = 0;
  const call: ResourceCall = {
    c, req, url, version, scope, settings, upstream,
    get key() {
      return scope.key;
    },
    store: new ResourceStore(c.env.DB),
    target: null,
    admit: (need = { tokens: 0, usd: 0 }) => scope.gate.admit(need),
    reserve: (more) => gate.grow(more),
    owned(row) {
      if (!row.model) return;
      call.target = parseTarget(row.model);
      scope.requestedModel = row.model;
    },
    useModel(t) {
      call.target = t;
      scope.requestedModel = targetString(t);
      if (t.provider !== "gemini") throw notGemini(t);
      assertTargetAllowed(scope.key, t);
      budgetable(scope, [t]);
    },
    deferRecord() {
      deferred = true;
      return (outcome, error) =>
        recordCall(scope, {
          target: call.target, index: call.target ? 0 : null, attempts: upstream.attempts, status, outcome, error,
          usage: call.usage, units: call.units, ttfbMs: Date.now() - startedAt,
        });
    },
  };
  // The call is kept alive to its end, even when the client leaves: a create's resource is recorded or undone, and
  // every call's row is written (src/routes/resources/created.ts).
  const served = (async (): Promise<Response> => {
    try {
      assertKeyUsable(presented);
      // An upload's chunk needs no room of its own: it is refused only with the key (src/routes/resources/files.ts).
      await scope.gate.check(action !== "files.uploadChunk");
      // Resource calls are not latency-bound: lease renewals in flight are waited for up front.
      await scope.gate.verified();
      scope.key = scope.gate.record;
      // A list, get, patch, delete, cancel or download takes a request slot like any call, before it reads D1 or the
      // upstream (a key at its rate limit is answered 429 and costs the shared upstream key nothing).
      if (!SELF_ADMITTED.has(action)) await call.admit();
      if (model) call.useModel(model);
      const res = await handle(call);
      status = res.status;
      if (!deferred) {
        recordCall(scope, {
          target: call.target, index: call.target ? 0 : null, attempts: upstream.attempts, status, outcome: "ok", error: null,
          usage: call.usage, units: call.units, ttfbMs: Date.now() - startedAt,
        });
      }
      if (upstream.attempts.length && !res.headers.has("x-edgeway-provider")) res.headers.set("x-edgeway-provider", "gemini");
      return res;
    } catch (e) {
      // A create that used tokens upstream (a cache) and then failed is charged them.
      return respondError(scope, e, upstream.attempts, call.usage && { target: call.target, usage: call.usage });
    }
  })();
  c.executionCtx.waitUntil(served);
  return served;
}

/** A JSON answer, as Gemini gives it. */
export function json(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

/**
 * `pageSize` as Gemini takes it (default 10); at most `MAX_PAGE` here, since each item is read fresh from the upstream:
 * what bounds a list's upstream fan-out (docs/resources.md).
 */
export function pageSize(url: URL): number {
  const raw = url.searchParams.get("pageSize");
  if (raw === null || raw === "") return 10;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw badRequest("pageSize must be a non-negative integer");
  return Math.min(Math.max(n || 10, 1), MAX_PAGE);
}

export const MAX_PAGE = 20;

export const notGemini = (t: Target) =>
  badRequest(`model "${targetString(t)}": files, caches, batches and long-running operations are served for Gemini models only (gemini/...)`);

export const notFoundError = (what: string) => new GatewayError(404, `${what} not found`);
