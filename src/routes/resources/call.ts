/**
 * One resource call (files, caches, batches, operations), shaped like a model action: identify key → call scope →
 * admission check (status, rate limit: before any body is read) → the handler (a create takes a request slot) →
 * respond → record. From the moment the key is known every outcome leaves one usage row or refusal count.
 */
import type { Context } from "hono";
import { assertKeyUsable, assertTargetAllowed, identifyKey } from "../../auth/authenticate";
import type { KeyRecord } from "../../auth/key-record";
import type { AppEnv } from "../../env";
import { badRequest, GatewayError } from "../../gemini/errors";
import type { UsageMetadata } from "../../gemini/schema";
import { Gate, type CallNeed } from "../../governance/gate";
import type { CallScope } from "../../pipeline/context";
import { recordCall, type CallEnd } from "../../pipeline/record";
import { respondError } from "../../pipeline/respond";
import { parseTarget, targetString, type Target } from "../../plan/target";
import { resourceSettings, type ResourceSettings } from "../../resources/settings";
import { ResourceStore, type ResourceRow } from "../../resources/store";
import { Upstream } from "../../resources/upstream";
import type { Outcome } from "../../usage/record";
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

export async function serveResource(c: Context<AppEnv>, version: string, action: string, model: Target | undefined, handle: Handler): Promise<Response> {
  const { requestId, startedAt, config } = c.var;
  const req = c.req.raw;
  const url = new URL(req.url);
  const presented = await identifyKey(req, url, c.env.VIRTUAL_KEYS);
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const scope: CallScope = {
    requestId, startedAt, env: c.env, config, key: presented,
    gate: new Gate(c.env, waitUntil, presented),
    action,
    requestedModel: model ? targetString(model) : "",
    stream: false,
    waitUntil,
  };
  const settings = resourceSettings(c.env);
  const upstream = new Upstream(settings);
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
  try {
    assertKeyUsable(presented);
    await scope.gate.check();
    // Resource calls are not latency-bound: lease renewals in flight are waited for up front.
    await scope.gate.verified();
    scope.key = scope.gate.record;
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
    return respondError(scope, e, upstream.attempts);
  }
}

/** A JSON answer, as Gemini gives it. */
export function json(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

/** `pageSize` as Gemini takes it (default 10); at most 50 here, since each item is read fresh from the upstream. */
export function pageSize(url: URL): number {
  const raw = url.searchParams.get("pageSize");
  if (raw === null || raw === "") return 10;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw badRequest("pageSize must be a non-negative integer");
  return Math.min(Math.max(n || 10, 1), MAX_PAGE);
}

export const MAX_PAGE = 50;

export const notGemini = (t: Target) =>
  badRequest(`model "${targetString(t)}": files, caches, batches and long-running operations are served for Gemini models only (gemini/...)`);

export const notFoundError = (what: string) => new GatewayError(404, `${what} not found`);
