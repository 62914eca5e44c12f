/**
 * A provider's upstream credentials: several per provider, each with a label (what usage rows and attempt details
 * name — never the secret), a weight and optional model globs. An attempt gets a credential chosen by weight among
 * the healthy ones that serve the model and that this call has not tried yet. A credential the upstream throttled
 * (429) cools down for its Retry-After, or a backoff that doubles with each 429 in a row; one it refused (401/403)
 * cools down longer. When every credential serving the model is cooling, the one that recovers first is used: the
 * pool steers traffic, it never refuses a call on its own (the retry policy decides waits).
 *
 * Health lives in module scope, so it is per isolate: each isolate learns from the answers it sees.
 */
import { matchesAny } from "../../auth/globs";

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
  /** A 401/403 (or a token endpoint refusing the credential). */
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

/** Forgets every cool-down in this isolate (tests start from a clean slate). */
export function resetCredentialHealth(): void {
  health.clear();
}

export class CredentialPool<M = unknown> {
  /** Every secret of every credential: what upstream error text is redacted of. */
  readonly secrets: readonly string[];

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
    const healthy = from.filter((c) => this.coolingUntil(c, now) === 0);
    if (healthy.length) return weighted(healthy, random);
    let best: PooledCredential<M> | undefined;
    for (const c of from) if (!best || this.coolingUntil(c, now) < this.coolingUntil(best, now)) best = c;
    return best;
  }

  /** Whether a healthy credential serving `model` is left that this call has not tried: then a retry goes at once. */
  hasFresh(model: string, tried: ReadonlySet<string>, now = Date.now()): boolean {
    return this.serving(model).some((c) => !tried.has(c.label) && this.coolingUntil(c, now) === 0);
  }

  /** The upstream throttled (`rate`) or refused (`auth`) this credential: take it out of rotation for a while. */
  cool(c: Credential<M>, cause: "rate" | "auth", retryAfterMs?: number, now = Date.now()): void {
    const key = this.key(c);
    const h = health.get(key) ?? { until: 0, strikes: 0 };
    h.strikes++;
    let ms: number;
    if (cause === "auth") ms = this.cooldowns.authMs;
    else if (retryAfterMs !== undefined) ms = retryAfterMs;
    else ms = Math.min(this.cooldowns.rateMs * 2 ** (h.strikes - 1), Math.max(MAX_RATE_COOLDOWN_MS, this.cooldowns.rateMs));
    h.until = Math.max(h.until, now + ms);
    health.set(key, h);
  }

  /** The credential served: its run of 429s is over. */
  recovered(c: Credential<M>): void {
    const key = this.key(c);
    if (health.has(key)) health.delete(key);
  }

  /** When the credential's cool-down ends, or 0 when it is healthy. */
  coolingUntil(c: Credential<M>, now = Date.now()): number {
    const until = health.get(this.key(c))?.until ?? 0;
    return until > now ? until : 0;
  }

  private key(c: Credential<M>): string {
    return `${this.provider}\n${c.label}`;
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
