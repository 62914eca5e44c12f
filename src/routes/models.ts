/** GET /genai/{v}/models and /models/{model}: what the caller's key may use. */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../auth/authenticate";
import { identifyDirectCaller } from "../auth/direct";
import { getModel, listModels } from "../catalog/models";
import type { AppEnv } from "../env";
import type { GenaiRoute } from "./genai-path";

export async function modelsRoute(c: Context<AppEnv>, route: Extract<GenaiRoute, { kind: "list" | "get" }>): Promise<Response> {
  const { config } = c.var;
  const url = new URL(c.req.url);
  const direct = config.directKeys ? await identifyDirectCaller(c.req.raw, url) : undefined;
  const key = direct?.key ?? await identifyKey(c.req.raw, url, c.env.VIRTUAL_KEYS);
  assertKeyUsable(key);
  return c.json(route.kind === "list" ? listModels(config, key, !!direct) : getModel(config, key, route.target, route.raw, !!direct));
}
