/**
 * The Live API's routes under /genai, as @google/genai builds them from its base URL:
 *   GET  /genai/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent[Constrained]  (WebSocket)
 *   POST /genai/{v}/auth_tokens                                                       (ephemeral tokens)
 */
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import type { ResourceRoute } from "../genai-path";
import { createAuthToken } from "./auth-tokens";
import { liveConnect } from "./connect";

export const isLiveRoute = (r: ResourceRoute) => r.version === "ws" || r.rest === "auth_tokens";

export function liveRoute(c: Context<AppEnv>, route: ResourceRoute): Promise<Response> {
  return route.version === "ws" ? liveConnect(c, route) : createAuthToken(c, route);
}
