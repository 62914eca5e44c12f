/**
 * A provider's upstream credentials: several per provider, each with a label (what usage rows and attempt details
 * name — never the secret), a weight and optional model globs. An attempt gets a credential chosen by weight among
 * the healthy ones that serve the model and that this call has not tried yet. Whose fault a refusal was is decided by
 * one rule (./fault.ts): a credential the upstream throttled (429) cools down for that model only, for its
 * Retry-After or a backoff that doubles with each 429 in a row; one the upstream refused as a credential (an invalid
 * key, a token endpoint's refusal) cools down longer for every model; a refusal the request caused cools nothing.
 * When every credential serving the model is cooling, the one that recovers first is used: the pool steers traffic,
 * it never refuses a call on its own (the retry policy decides waits).
 *
 * Health lives in module scope, so it is per isolate: each isolate learns from the answers it sees.
 */
import { matchesAny } from "../../lib/globs";
import type { CredentialFault } from "./fault";

export interface Credential<M = unknown> {
  /** What rows and attempt details name; empty for the anonymous credential of a keyless provider. */
  readonly label: string;
  /** Every secret value this credential holds, for redaction. */
  readonly secrets: readonly string[];
  /** What the backend sends or signs with (an API key, a service account, AWS keys). */
  readonly material: M;
}

/** A caller's own key (DIRECT_KEYS) as the credential of one call, labelled `direct` wherever attempts are shown. */
export const directCredential = <M>(key: string, material: M): Credential<M> => ({ label: "direct", secrets: [key], material });

export interface PooledCredential<M = unknown> extends Credential<M> {
  readonly weight: number;
  /** Globs over the provider's model name; absent: every model. */
  readonly models?: readonly string[];
}

export interface Cooldowns {
  /** A 429 without Retry-After: this long, doubled for each further 429 in a row (capped at a minute or this). */
  rateMs: number;
  /** A refusal of the credential itself (an invalid key, a token endpoint refusing it): every model. */
  authMs: number;
}

export const DEFAULT_COOLDOWNS: Cooldowns = Object.freeze({ rateMs: 5_000, authMs: 300_000 });
const MAX_RATE_COOLDOWN_MS = 60_000;

/** Whether `c` serves `model`: one without a `models` list (a pool's, or a credential outside any pool) serves all. */
export const servesModel = (c: Credential & { models?: readonly string[] }, model: string) => !c.models || matchesAny(c.models, model);

interface Health {
  until: number;
  strikes: number;
}

const health = new Map<string, Health>();
/** Past this many entries, lapsed ones are forgotten when another is added (one per credential and throttled model). */
const MAX_HEALTH_ENTRIES = 1024;

/** How many cool-downs this isolate keeps (tests: the table stays bounded). */
export const credentialHealthSize = () => health.size;

/** Forgets every cool-down in this isolate (tests start from a clean slate). */
export function resetCredentialHealth(): void {
  health.clear();
}

export class CredentialPool<M = unknown> {
  /** Every secret of every credential: what upstream error text is redacted of. */
  readonly secrets: readonly string[];

  /** Told when a credential starts a cool-down (alerts, src/alerts/cooled.ts); unset when alerts are off. */
  onCooled?: (e: { provider: string; label: string; fault: "credential" | "model"; model: string; until: number }) => void;

  constructor(
    readonly provider: string,
    readonly credentials: readonly PooledCredential<M>[],
    private readonly cooldowns: Cooldowns = DEFAULT_COOLDOWNS,
  ) {
    this.secrets = credentials.flatMap((c) => c.secrets);
  }

  /** The pool of a provider that takes no credential (a keyless host, a binding): one anonymous entry. */
  static keyless(provider: string): CredentialPool<undefined> {
    return new CredentialPool(provider, [{ label: "", secrets: [], material: undefined, weight: 1 }]);
  }

  get empty(): boolean {
    return this.credentials.length === 0;
  }

  /** Whether `c` is one of this pool's own: a credential outside it (the resources key) has no health kept here. */
  holds(c: Credential<M>): boolean {
    return this.credentials.some((p) => p === c);
  }

  serving(model: string): PooledCredential<M>[] {
    return this.credentials.filter((c) => servesModel(c, model));
  }

  serves(model: string): boolean {
    return this.credentials.some((c) => servesModel(c, model));
  }

  /**
   * The credential for the next attempt at `model`: weighted among the healthy ones this call has not tried; else
   * the untried one that recovers first; once every one was tried, the same choice among all of them again.
   */
  pick(model: string, tried: ReadonlySet<string>, now = Date.now(), random = Math.random): PooledCredential<M> | undefined {
    const serving = this.serving(model);
    const untried = serving.filter((c) => !tried.has(c.label));
    const from = untried.length ? untried : serving;
    const healthy = from.filter((c) => this.coolingUntil(c, model, now) === 0);
    if (healthy.length) return weighted(healthy, random);
    let best: PooledCredential<M> | undefined;
    for (const c of from) if (!best || this.coolingUntil(c, model, now) < this.coolingUntil(best, model, now)) best = c;
    return best;
  }

  /** Whether a healthy credential serving `model` is left that this call has not tried: then a retry goes at once. */
  hasFresh(model: string, tried: ReadonlySet<string>, now = Date.now()): boolean {
    return this.serving(model).some((c) => !tried.has(c.label) && this.coolingUntil(c, model, now) === 0);
  }

  /**
   * The upstream refused the credential itself (`credential`: out of rotation for every model) or throttled it at
   * `model` (`model`: out of rotation for that model only). `none` (the request's fault) changes nothing.
   */
  cool(c: Credential<M>, fault: CredentialFault, model: string, retryAfterMs?: number, now = Date.now()): void {
    if (fault === "none") return;
    const key = fault === "credential" ? this.key(c) : this.key(c, model);
    const h = health.get(key) ?? { until: 0, strikes: 0 };
    h.strikes++;
    let ms: number;
    if (fault === "credential") ms = this.cooldowns.authMs;
    else if (retryAfterMs !== undefined) ms = retryAfterMs;
    else ms = Math.min(this.cooldowns.rateMs * 2 ** (h.strikes - 1), Math.max(MAX_RATE_COOLDOWN_MS, this.cooldowns.rateMs));
    const fresh = h.until <= now;
    h.until = Math.max(h.until, now + ms);
    if (fresh && this.onCooled) this.onCooled({ provider: this.provider, label: c.label, fault, model, until: h.until });
    if (!health.has(key) && health.size >= MAX_HEALTH_ENTRIES) for (const [k, v] of health) if (v.until <= now) health.delete(k);
    health.set(key, h);
  }

  /** The credential served `model`: it is a working credential, and its run of 429s there is over. */
  recovered(c: Credential<M>, model: string): void {
    health.delete(this.key(c));
    health.delete(this.key(c, model));
  }

  /** When the credential's cool-down for `model` ends (its own, or the model's), or 0 when it may serve it now. */
  coolingUntil(c: Credential<M>, model: string, now = Date.now()): number {
    const until = Math.max(health.get(this.key(c))?.until ?? 0, health.get(this.key(c, model))?.until ?? 0);
    return until > now ? until : 0;
  }

  /**
   * This isolate's cool-downs of the pool's credentials still running at `now` (the admin Providers page):
   * `model` null when the credential itself was refused (every model), else the model it was throttled at.
   */
  cooling(now = Date.now()): { label: string; model: string | null; until: number; strikes: number }[] {
    const out = [];
    for (const [k, h] of health) {
      const [provider, label = "", model] = k.split("\n");
      if (provider === this.provider && h.until > now) out.push({ label, model: model ?? null, until: h.until, strikes: h.strikes });
    }
    return out;
  }

  private key(c: Credential<M>, model?: string): string {
    return model === undefined ? `${this.provider}\n${c.label}` : `${this.provider}\n${c.label}\n${model}`;
  }
}

function weighted<T extends { weight: number }>(items: T[], random: () => number): T {
  let total = 0;
  for (const c of items) total += c.weight;
  let r = random() * total;
  for (const c of items) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return items[items.length - 1]!;
}
