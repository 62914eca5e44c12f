/**
 * The console's only way to the gateway: the public admin API with the admin token, and (for the playground) the
 * inference API with a virtual key. Every refusal becomes an ApiError carrying the API's own message.
 */
import type { KeyFields, KeyRecord } from "../../src/keys/key-record";
import type { TeamFields, TeamRecord } from "../../src/governance/team-record";
import type { CallRecord } from "../../src/usage/row";
import type { StoredBody } from "../../src/observe/stored-body";
import type { Self } from "./roles";

export type { CallRecord, KeyFields, KeyRecord, StoredBody, TeamFields, TeamRecord };

/** One alert delivery as GET /admin/alerts shows it (src/alerts/outbox.ts recentAlerts). */
export interface AlertDelivery {
  id: string;
  type: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
  event: { id: string; type: string; at: string; subject: { kind: string; id: string; name: string }; data: Record<string, unknown> };
}

/** An admin token as /admin/tokens shows it (src/auth/admin-tokens.ts: that module is Worker-only). */
export interface TokenRecord {
  id: string;
  name: string;
  role: "admin" | "viewer" | "team_admin";
  team_id: string | null;
  prefix: string;
  created_at: string;
  created_by: string;
}
export type TokenFields = Pick<TokenRecord, "name" | "role" | "team_id">;
export type NewToken = TokenRecord & { token: string };
export type NewKey = KeyRecord & { key: string };

/** One admin write as GET /admin/audit shows it: never a secret or hash. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: { id: string; name: string; role: string };
  action: string;
  target: string;
  changes: Record<string, { before: unknown; after: unknown }>;
}

export interface Totals {
  requests: number;
  errors: number;
  aborted: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  thinking_tokens: number;
  cost_usd: number;
  /** Rows with a dimension no price covered (their `unpriced`). */
  unpriced_calls?: number;
  /** Calls answered from the response cache, and what their originals cost. */
  cache_hits?: number;
  saved_usd?: number;
  /** Calls refused before any upstream call (limits, revoked keys, …): counted, not logged as rows. */
  refused?: number;
  /** Guardrail policies that acted (each policy at each stage of a call counts one). */
  guardrail_actions?: number;
}

/** GET /admin/guardrails/usage: what each policy did, by stage and action, and the entities it found. */
export interface GuardrailUse {
  policy: string;
  stage: string;
  action: string;
  actions: number;
  entities: Record<string, number>;
}

/** p50 and p95 (ms) from GET /admin/usage/latency; null figures when no call matched. */
export interface Quantiles {
  count: number;
  p50_ms: number | null;
  p95_ms: number | null;
}
export interface Latency {
  latency: Quantiles;
  ttfb: Quantiles;
  groups?: ({ hour?: string; day?: string } & { latency: Quantiles; ttfb: Quantiles })[];
}
export type Group = "key" | "team" | "model" | "provider" | "hour" | "day";
export type UsageGroup = Totals & { key_id?: string; team_id?: string | null; model?: string | null; provider?: string | null; hour?: string; day?: string };
export interface Usage {
  from: string | null;
  to: string | null;
  totals: Totals;
  groups?: UsageGroup[];
  refusals?: { status: number; reason: string; refused: number }[];
  pending_rows: number | null;
  rejected_rows: number | null;
}

/** A Gemini resource created through the gateway, as GET /admin/resources shows it. */
export interface ResourceView {
  name: string;
  kind: ResourceKind;
  provider: string;
  key_id: string;
  team_id: string | null;
  /** Created under resource_scope "team": visible to the team's team-scoped keys. */
  shared: boolean;
  model: string | null;
  state: string;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  size_bytes?: number;
  requests?: number;
}
export const RESOURCE_KINDS = ["file", "cachedContent", "batch", "operation"] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** A price as the admin API shows it: USD per 1M tokens by dimension (and tiers, per-image, per-second prices). */
export type PriceView = { input: number; output: number; cached_input?: number; thinking?: number; tiers?: unknown[] } & Record<string, unknown>;

/** GET /admin/providers: configured providers, credentials by label, this isolate's cool-downs, models and prices. */
export interface ProvidersView {
  health_scope: "isolate";
  providers: {
    name: string;
    keyless: boolean;
    credentials: {
      label: string;
      weight: number;
      models: string[] | null;
      cooling: { model: string | null; until: string; strikes: number; why: string }[];
    }[];
    models: { id: string; price: PriceView | null; price_source: "catalogue" | "override" | null }[];
  }[];
  prices: {
    catalogue: { source: string; version: string; date: string };
    overrides: { pattern: string; price: PriceView }[];
  };
}

/** Filters /admin/usage and /admin/logs both take (times as ms since the epoch). */
export interface Filters {
  key_id?: string;
  team_id?: string;
  model?: string;
  provider?: string;
  outcome?: string;
  status?: string;
  from?: number;
  to?: number;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status?: string,
  ) {
    super(message);
  }
}

/** The message an error body carries, or a description of an answer that is not the gateway's JSON. */
export async function errorOf(res: Response, what: string): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const e = JSON.parse(text)?.error;
    if (e && typeof e.message === "string") return new ApiError(e.message, res.status, e.status);
  } catch {}
  // Not the gateway's answer: a proxy or an access gate in front of it (e.g. a Cloudflare Access login page).
  const type = res.headers.get("content-type")?.split(";")[0] || "no content type";
  return new ApiError(`${what}: HTTP ${res.status} ${res.statusText} with a ${type} answer instead of the gateway's JSON`, res.status);
}

/** Called when the admin token is refused, so the app can ask for it again. */
let onUnauthorized: (message: string) => void = () => {};
export const setUnauthorizedHandler = (f: (message: string) => void) => void (onUnauthorized = f);

export type Query = Record<string, string | number | undefined | null>;

export function queryString(q: Query = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

const ifMatch = (revision: number | undefined): Record<string, string> => (revision === undefined ? {} : { "if-match": `"${revision}"` });

export class Admin {
  constructor(private readonly token: string) {}

  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`/admin${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        // An access gate in front of /admin answers with a redirect to its login page; show that, do not follow it.
        redirect: "manual",
        credentials: "same-origin",
      });
    } catch (e) {
      throw new ApiError(`${method} /admin${path} did not reach the gateway (${e instanceof Error ? e.message : String(e)})`, 0);
    }
    if (res.type === "opaqueredirect") {
      throw new ApiError(`${method} /admin${path} was redirected (an access gate in front of /admin?): reload the page to sign in to it`, 0);
    }
    if (!res.ok) {
      const err = await errorOf(res, `${method} /admin${path}`);
      if (res.status === 401) onUnauthorized(err.message);
      throw err;
    }
    return (await res.json()) as T;
  }

  get = <T>(path: string, q?: Query) => this.call<T>("GET", `${path}${queryString(q)}`);

  /** Every page of a list (keys or teams): the console searches and joins them in the browser. */
  async all<T>(path: "/keys" | "/teams" | "/tokens", field: "keys" | "teams" | "tokens"): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.get<Record<string, unknown> & { cursor?: string }>(path, { limit: 1000, cursor });
      out.push(...(page[field] as T[]));
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  /** Who this token is: its role and (a team admin's) team. */
  self = () => this.get<Self>("/tokens/self");
  keys = () => this.all<KeyRecord>("/keys", "keys");
  teams = () => this.all<TeamRecord>("/teams", "teams");
  createKey = (f: Partial<KeyFields>) => this.call<NewKey>("POST", "/keys", f);
  /** A change made from the record at `revision`: refused (409, the API's message) if someone changed it since. */
  updateKey = (id: string, f: Partial<KeyFields>, revision?: number) =>
    this.call<KeyRecord>("PATCH", `/keys/${encodeURIComponent(id)}`, f, ifMatch(revision));
  revokeKey = (id: string) => this.call<KeyRecord>("DELETE", `/keys/${encodeURIComponent(id)}`);
  /** `graceSeconds`: how long the replaced secret keeps working (0: it stops at once; at most 7 days). */
  rotateKey = (id: string, graceSeconds = 0) =>
    this.call<NewKey>("POST", `/keys/${encodeURIComponent(id)}/rotate`, graceSeconds ? { grace_seconds: graceSeconds } : undefined);
  createTeam = (f: Partial<TeamFields>) => this.call<TeamRecord>("POST", "/teams", f);
  updateTeam = (id: string, f: Partial<TeamFields>, revision?: number) =>
    this.call<TeamRecord>("PATCH", `/teams/${encodeURIComponent(id)}`, f, ifMatch(revision));
  deleteTeam = (id: string) => this.call<{ id: string; deleted: true }>("DELETE", `/teams/${encodeURIComponent(id)}`);
  tokens = () => this.all<TokenRecord>("/tokens", "tokens");
  createToken = (f: TokenFields) => this.call<NewToken>("POST", "/tokens", f);
  deleteToken = (id: string) => this.call<{ id: string; deleted: true }>("DELETE", `/tokens/${encodeURIComponent(id)}`);
  usage = (f: Filters & { group_by?: Group }) => this.get<Usage>("/usage", { ...f });
  latency = (f: Filters & { group_by?: Group }) => this.get<Latency>("/usage/latency", { ...f });
  logs = (f: Filters & { request_id?: string; limit?: number; cursor?: string }) =>
    this.get<{ logs: CallRecord[]; next_cursor?: string }>("/logs", { ...f });
  guardrailsUsage = (f: Filters) => this.get<{ policies: GuardrailUse[] }>("/guardrails/usage", { ...f });
  /** A call's stored request and answer (404 when none is stored, 503 without LOG_BUCKET). */
  body = (requestId: string) => this.get<StoredBody>(`/logs/${encodeURIComponent(requestId)}/body`);
  alerts = (limit = 100) => this.get<{ alerts: AlertDelivery[] }>("/alerts", { limit });
  deliverAlerts = () => this.call<{ delivered: number; retrying: number; failed: number }>("POST", "/alerts/deliver");
  providers = () => this.get<ProvidersView>("/providers");
  audit = (f: { actor?: string; action?: string; target?: string; from?: number; to?: number; limit?: number; cursor?: string }) =>
    this.get<{ entries: AuditEntry[]; next_cursor?: string }>("/audit", { ...f });
  resources = (f: { key_id?: string; team_id?: string; kind?: string; limit?: number; cursor?: string }) =>
    this.get<{ resources: ResourceView[]; next_cursor?: string }>("/resources", { ...f });
}
