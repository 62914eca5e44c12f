/**
 * A Live session's upstream, with what it shares with the attempt loop: the credential choice (a resumed session's
 * own, the one holding the session's files and caches, or the pool's pick: src/providers/credentials/choice.ts), the
 * one transport (src/providers/transport.ts) and the credential health an answer teaches (a refusal or a throttle
 * cools the credential down, an open socket ends its cool-downs).
 */
import { GatewayError } from "../gemini/errors";
import { redactor } from "../gemini/redact";
import { retryAfterMs } from "../pipeline/retry-policy";
import { printable, targetString, type Target } from "../lib/target";
import { chooseCredential, coolDown, credentialByLabel, pinnedCredential, recovered, withHealth, type CredentialChoice } from "../providers/credentials/choice";
import { faultOf } from "../providers/credentials/fault";
import { servesModel } from "../providers/credentials/pool";
import { upstreamFetch } from "../providers/transport";
import type { Credential, Provider } from "../providers/types";
import { describeError } from "../lib/describe-error";
import type { AttemptInfo } from "../usage/row";
import { unseal, verifyHandle } from "./resumption";

/** What resumption handles are sealed with: the credential's own secret, so they resume only under it. */
export const handleSecret = (c: Credential) => c.secrets.join("\n");

/**
 * The credential a session goes upstream with. A resumption goes under the credential that issued its handle, which
 * must be sealed for this key (`handle` is then the upstream's own handle); a session naming files and caches goes
 * where they are; any other gets the pool's pick.
 */
export async function sessionCredential(
  provider: Provider,
  target: Target,
  { sealed, keyId, usesResources }: { sealed?: unknown; keyId: string; usesResources: boolean },
): Promise<{ choice: CredentialChoice; handle?: string }> {
  const name = targetString(target);
  if (sealed !== undefined) {
    const parts = unseal(sealed);
    const credential = credentialByLabel(provider, parts.label);
    if (!credential) throw new GatewayError(403, "session resumption handle was not issued to this key");
    await verifyHandle(handleSecret(credential), keyId, parts);
    return { choice: withHealth(provider, credential, true), handle: parts.handle };
  }
  const pinned = pinnedCredential(provider, usesResources);
  // Files and caches live in the project of the key that made them: the session goes where they are.
  if (pinned && !servesModel(pinned, target.model)) {
    throw new GatewayError(503, `the files and caches this session names are held by credential "${printable(pinned.label)}", which does not serve "${name}"`);
  }
  const choice = chooseCredential(provider, target.model, { pinned, tried: new Set() });
  if (!choice) throw new GatewayError(503, `no ${target.provider} credential serves "${name}" on this gateway`);
  return { choice };
}

/**
 * A session that names files and caches runs under the credential that holds them (`resources`): one in another
 * project would be refused by the upstream.
 */
export function assertHeldBy(resources: Credential | undefined, credential: Credential): void {
  if (!resources || credential === resources) return;
  throw new GatewayError(400, `the files and caches this session names are held by credential "${printable(resources.label)}", `
    + `not the session's ("${printable(credential.label)}"): name one in the setup message so the session opens under it`);
}

/**
 * The upstream socket (not yet accepted), opened with the provider's credential (never the caller's), or a 502
 * saying why not. A credential the upstream refused or throttled cools down, as after any call (the attempt loop's
 * rule, src/providers/credentials/fault.ts: only a refusal of the credential benches it for everyone, a 429 only for
 * this model; a credential outside the pool, the resources key, has no health there).
 */
export async function openUpstream(
  provider: Provider,
  choice: CredentialChoice,
  target: Target,
  version: string,
  timeoutMs: number,
  attempts: AttemptInfo[],
): Promise<WebSocket> {
  const { credential } = choice;
  const started = Date.now();
  const attempt = (status: number, reason: string) =>
    attempts.push({
      target: targetString(target), ...(credential.label ? { credential: credential.label } : {}), status, reason, latency_ms: Date.now() - started,
    });
  let res: Response;
  try {
    res = await upstreamFetch(provider, provider.live!(version, credential), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    attempt(502, "unreachable");
    throw new GatewayError(502, `${provider.name}: could not open the Live session upstream (${redactor(credential.secrets)(describeError(e))})`);
  }
  if (res.status !== 101 || !res.webSocket) {
    const text = (await res.text().catch(() => "")).slice(0, 4000);
    attempt(res.status, `upstream ${res.status}`);
    coolDown(choice, faultOf(res.status, text), target.model, retryAfterMs(res.headers, Date.now()));
    const said = provider.error(res.status, text, credential.secrets).message;
    throw new GatewayError(502, `${provider.name} refused the Live session: HTTP ${res.status}: ${said}`);
  }
  recovered(choice, target.model);
  attempt(101, "ok");
  return res.webSocket;
}
