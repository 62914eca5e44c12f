/**
 * One resource call (files, caches, batches, operations), opened as every call is (src/http/call.ts: identify,
 * scope, admission check, record) → a request slot (a create takes its own, with its worst case, once its body is
 * checked; an upload's chunks ride on its start's) → the handler → respond.
 */
import type { Context } from "hono";
import { assertTargetAllowed } from "../../auth/authenticate";
import type { KeyRecord } from "../../keys/key-record";
import type { AppEnv } from "../../env";
import { badRequest, GatewayError } from "../../gemini/errors";
import type { UsageMetadata } from "../../gemini/schema";
import type { CallNeed, Gate } from "../../governance/gate";
import { CallFailed, serveCall } from "../../http/call";
import type { CallEnd, CallScope } from "../../pipeline/context";
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

export function serveResource(c: Context<AppEnv>, version: string, action: string, model: Target | undefined, handle: Handler): Promise<Response> {
  const req = c.req.raw;
  const url = new URL(req.url);
  const settings = resourceSettings(c.env);
  const upstream = new Upstream(c.var.config);
  const opening = {
    action, model: model ? targetString(model) : "",
    // An upload's chunk needs no room of its own: it is refused only with the key (src/routes/resources/files.ts).
    room: action !== "files.uploadChunk",
    // Resource calls are not latency-bound: lease renewals in flight are waited for up front.
    verify: true,
  };
  // The call is kept alive to its end, even when the client leaves: a create's resource is recorded or undone, and
  // every call's row is written (src/routes/resources/created.ts).
  const served = serveCall(c, opening, async (scope) => {
    let deferred = false;
    let status = 0;
    const end = (outcome: Outcome, error: string | null) =>
      scope.end({
        target: call.target, index: call.target ? 0 : null, attempts: upstream.attempts, status, outcome, error,
        usage: call.usage, units: call.units, ttfbMs: Date.now() - scope.startedAt,
      });
    const call: ResourceCall = {
      c, req, url, version, scope, settings, upstream,
      get key() {
        return scope.gate.record;
      },
      store: new ResourceStore(c.env.DB),
      target: null,
      admit: (need = { tokens: 0, usd: 0 }) => scope.gate.admit(need),
      reserve: (more) => (scope.gate as Gate).grow(more),
      owned(row) {
        if (!row.model) return;
        call.target = parseTarget(row.model);
        scope.requestedModel = row.model;
      },
      useModel(t) {
        call.target = t;
        scope.requestedModel = targetString(t);
        if (t.provider !== "gemini") throw notGemini(t);
        assertTargetAllowed(call.key, t);
        budgetable(scope, [t]);
      },
      deferRecord() {
        deferred = true;
        return end;
      },
    };
    try {
      // A list, get, patch, delete, cancel or download takes a request slot like any call, before it reads D1 or the
      // upstream (a key at its rate limit is answered 429 and costs the shared upstream key nothing).
      if (!SELF_ADMITTED.has(action)) await call.admit();
      if (model) call.useModel(model);
      const res = await handle(call);
      status = res.status;
      if (!deferred) end("ok", null);
      if (upstream.attempts.length && !res.headers.has("x-edgeway-provider")) res.headers.set("x-edgeway-provider", "gemini");
      return res;
    } catch (e) {
      // A create that used tokens upstream (a cache) and then failed is charged them.
      throw new CallFailed(e, upstream.attempts, call.usage && { target: call.target, usage: call.usage });
    }
  });
  // A caller refused before its key is known (401) is answered by app.onError: nothing to keep alive.
  c.executionCtx.waitUntil(served.catch(() => {}));
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
