/**
 * Which credential an upstream call goes with, and what its outcome teaches the pool. One rule for every upstream
 * call (model actions, resource calls, Live sessions): the caller's own key on a direct call; the credential holding
 * the call's files and caches when it uses any (`pinned`: a file lives in the project of the key that made it); else
 * the pool's pick. Only a credential of the pool has health there: a direct key or a resources key outside the pool
 * is never cooled.
 */
import type { Credential, Provider } from "../types";
import type { CredentialFault } from "./fault";
import type { CredentialPool } from "./pool";

export interface CredentialChoice<M = unknown> {
  credential: Credential<M>;
  /** The pool that keeps this credential's health; absent for one outside it (a direct key, a resources key). */
  pool?: CredentialPool<M>;
  /** The credential holds the call's files and caches: no other will do, so a refusal tries no other. */
  pinned: boolean;
}

/** The credential holding the provider's files and caches (`Provider.resources`), when a call uses any. */
export const pinnedCredential = <M>(provider: Provider<M>, usesResources: boolean): Credential<M> | undefined =>
  usesResources ? provider.resources : undefined;

/** A credential this gateway holds for `provider`, by the label a resumption handle names (a pooled one, or the resources key). */
export function credentialByLabel<M>(provider: Provider<M>, label: string): Credential<M> | undefined {
  return provider.pool.credentials.find((c) => c.label === label) ?? (provider.resources?.label === label ? provider.resources : undefined);
}

/**
 * The credential for one attempt at `model`: `direct` (the caller's own key) wins, then `pinned`, then the pool's
 * pick among those this call has not `tried`. Undefined only when the pool serves no credential for the model.
 */
export function chooseCredential<M>(
  provider: Provider<M>,
  model: string,
  { direct, pinned, tried }: { direct?: string; pinned?: Credential<M>; tried: ReadonlySet<string> },
): CredentialChoice<M> | undefined {
  if (direct !== undefined) return { credential: provider.direct!(direct), pinned: false };
  if (pinned) return withHealth(provider, pinned, true);
  const credential = provider.pool.pick(model, tried);
  return credential && { credential, pool: provider.pool, pinned: false };
}

/** A credential already chosen (a resumed session's), with the pool that keeps its health if it is the pool's. */
export function withHealth<M>(provider: Provider<M>, credential: Credential<M>, pinned: boolean): CredentialChoice<M> {
  return provider.pool.holds(credential) ? { credential, pool: provider.pool, pinned } : { credential, pinned };
}

/** The upstream refused or throttled the credential (`fault`, from ./fault.ts): it cools down in its pool. */
export function coolDown(choice: CredentialChoice, fault: CredentialFault, model: string, retryAfterMs?: number): void {
  choice.pool?.cool(choice.credential, fault, model, retryAfterMs);
}

/** The credential served `model`: its cool-downs there end. */
export function recovered(choice: CredentialChoice, model: string): void {
  choice.pool?.recovered(choice.credential, model);
}
