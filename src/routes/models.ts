/** GET /genai/{v}/models and /models/{model}: what the caller's key may use. */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../auth/authenticate";
import { getModel, listModels } from "../catalog/models";
import type { AppEnv } from "../env";
import type { GenaiRoute } from "./genai-path";

export async function modelsRoute(c: Context<AppEnv>, route: Extract<GenaiRoute, { kind: "list" | "get" }>): Promise<Response> {
  const key = await identifyKey(c.req.raw, new URL(c.req.url), c.env.VIRTUAL_KEYS);
  assertKeyUsable(key);
  const { config } = c.var;
  return c.json(route.kind === "list" ? listModels(config, key) : getModel(config, key, route.target, route.raw));
}
