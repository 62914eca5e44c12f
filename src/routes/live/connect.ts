/**
 * Opening a Live session: the credential (a virtual key, or an ephemeral token standing for the key that issued
 * it) and the key's status and request rate are checked before the upgrade, so a refusal is a Gemini-style HTTP
 * error the SDK reports; everything that needs the setup message (model, allow-list, budget) is checked after it,
 * and a refusal then closes the socket (src/live/session.ts).
 */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../../auth/authenticate";
import { readCredential } from "../../auth/credential";
import type { KeyRecord } from "../../keys/key-record";
import type { AppEnv } from "../../env";
import { GatewayError, notFound } from "../../gemini/errors";
import { clock } from "../../governance/clock";
import { Gate } from "../../governance/gate";
import { openSession } from "../../live/session";
import { presentToken, TOKEN_PREFIX, type PresentedToken } from "../../live/tokens";
import type { CallScope } from "../../pipeline/context";
import { respondError } from "../../pipeline/respond";
import { printable } from "../../lib/target";
import type { ResourceRoute } from "../genai-path";

/** `BidiGenerateContentConstrained` is what the SDK opens with an ephemeral token; both take either credential. */
const LIVE_PATH_RE = /^google\.ai\.generativelanguage\.(v1alpha|v1beta|v1)\.GenerativeService\.BidiGenerateContent(?:Constrained)?$/;

export async function liveConnect(c: Context<AppEnv>, route: ResourceRoute): Promise<Response> {
  const { requestId, startedAt, config } = c.var;
  const req = c.req.raw;
  const url = new URL(req.url);
  const m = LIVE_PATH_RE.exec(route.rest);
  if (!m) throw notFound(`no route for ${req.method} /genai/ws/${printable(route.rest)}`);
  if (req.method !== "GET") throw notFound(`no route for ${req.method} /genai/ws/${printable(route.rest)} (this path takes GET)`);
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new GatewayError(426, "the Live API is a WebSocket: connect with Upgrade: websocket");
  }

  const secret = tokenSecret(req, url);
  let token: PresentedToken | undefined;
  let presented: KeyRecord;
  if (secret) {
    token = await presentToken(c.env, secret, clock.now());
    presented = token.key;
  } else {
    presented = await identifyKey(req, url, c.env.VIRTUAL_KEYS);
  }
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const locked = token?.record.lock?.setup?.model;
  const gate = new Gate(c.env, waitUntil, presented);
  const scope: CallScope = {
    requestId, startedAt, env: c.env, config, key: presented, gate,
    action: "bidiGenerateContent",
    requestedModel: typeof locked === "string" ? locked : "",
    stream: true,
    waitUntil,
  };
  try {
    assertKeyUsable(presented);
    // Status and request rate: a key at its limit is refused before the upgrade (the session's slot is taken at setup).
    await scope.gate.check();
    // A lease fetched in the background (a key without limits) has answered, so the upgrade is never a mistake.
    await scope.gate.verified();
    scope.key = scope.gate.record;
  } catch (e) {
    return respondError(scope, e, []);
  }
  return openSession({ scope, gate, version: m[1]!, token });
}

/** An ephemeral token, where the SDK puts it (`?access_token=`) or as Gemini also takes it (`Authorization: Token`). */
function tokenSecret(req: Request, url: URL): string | undefined {
  const fromQuery = url.searchParams.get("access_token");
  if (fromQuery) return fromQuery.trim();
  const auth = /^token\s+(.+)$/i.exec(req.headers.get("authorization") ?? "");
  if (auth) return auth[1]!.trim();
  const v = readCredential(req, url);
  return v?.startsWith(TOKEN_PREFIX) ? v : undefined;
}
