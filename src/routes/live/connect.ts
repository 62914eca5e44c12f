/**
 * Opening a Live session: the credential (a virtual key, or an ephemeral token standing for the key that issued
 * it) and the key's status and request rate are checked before the upgrade, so a refusal is a Gemini-style HTTP
 * error the SDK reports; everything that needs the setup message (model, allow-list, budget) is checked after it,
 * and a refusal then closes the socket (src/live/session.ts).
 */
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { GatewayError } from "../../gemini/errors";
import type { Gate } from "../../governance/gate";
import { serveCall } from "../../http/call";
import type { Caller } from "../../http/identify";
import { openSession } from "../../live/session";

/**
 * The socket's path after `/genai/ws/` (a Hono path pattern). `BidiGenerateContentConstrained` is what the SDK opens
 * with an ephemeral token; both take either credential.
 */
export const LIVE_RPC = "google\\.ai\\.generativelanguage\\.v1(?:beta|alpha)?\\.GenerativeService\\.BidiGenerateContent(?:Constrained)?";

/** `GET /genai/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent[Constrained]`. */
export function liveConnect(c: Context<AppEnv>, version: string): Promise<Response> {
  const req = c.req.raw;
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new GatewayError(426, "the Live API is a WebSocket: connect with Upgrade: websocket");
  }
  // Status and request rate: a key at its limit is refused before the upgrade (the session's slot is taken at
  // setup); a lease fetched in the background (a key without limits) has answered, so the upgrade is never a mistake.
  const locked = (caller: Caller) => {
    const model = caller.kind === "token" ? caller.token.record.lock?.setup?.model : undefined;
    return typeof model === "string" ? model : "";
  };
  return serveCall(c, { action: "bidiGenerateContent", model: locked, stream: true, token: true, verify: true }, async (call) => {
    const caller = c.var.caller;
    // The session writes the call's row when it closes (call.end).
    return openSession({ scope: call, gate: call.gate as Gate, version, token: caller.kind === "token" ? caller.token : undefined });
  });
}
