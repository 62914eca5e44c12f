/**
 * Identify: who makes the call, on `c.var.caller`. A virtual key (KV, cached briefly in the isolate), the caller's
 * own provider key (`DIRECT_KEYS=on`, on the routes that serve one) or a Live ephemeral token (the Live socket).
 * A request without a usable credential is answered 401 here and leaves no row: there is no key to attribute it to.
 */
import type { Context } from "hono";
import { identifyKey } from "../auth/authenticate";
import { readCredential } from "../auth/credential";
import { identifyDirectCaller, type DirectCaller } from "../auth/direct";
import type { KeyRecord } from "../keys/key-record";
import type { AppEnv } from "../env";
import type { GatewayError } from "../gemini/errors";
import { clock } from "../governance/clock";
import { presentToken, TOKEN_PREFIX, type PresentedToken } from "../live/tokens";

/** The caller; `key` is the record its rows are attributed to (a direct caller's is a stand-in). */
export type Caller =
  | { kind: "key"; key: KeyRecord }
  | { kind: "direct"; key: KeyRecord; direct: DirectCaller }
  | { kind: "token"; key: KeyRecord; token: PresentedToken };

declare module "../env" {
  interface AppVariables {
    /** Who makes an inference call. */
    caller: Caller;
  }
}

/** Which credentials a route takes besides a virtual key. */
export interface Accepts {
  direct?: boolean;
  token?: boolean;
  /** What the path got wrong (a bad model or action): answered instead of a bad key. */
  invalid?: GatewayError;
}

export async function identify(c: Context<AppEnv>, accepts: Accepts = {}): Promise<Caller> {
  const req = c.req.raw;
  const url = new URL(req.url);
  let caller: Caller | undefined;
  const secret = accepts.token ? tokenSecret(req, url) : undefined;
  if (secret) {
    const token = await presentToken(c.env, secret, clock.now());
    caller = { kind: "token", key: token.key, token };
  } else if (accepts.direct && c.var.config.directKeys) {
    const direct = await identifyDirectCaller(req, url);
    if (direct) caller = { kind: "direct", key: direct.key, direct };
  }
  caller ??= {
    kind: "key",
    key: await identifyKey(req, url, c.env.VIRTUAL_KEYS).catch((e) => {
      throw accepts.invalid ?? e;
    }),
  };
  c.set("caller", caller);
  return caller;
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
