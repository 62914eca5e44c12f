/** GET /genai/{v}/models and /models/{model}: what the caller's key may use. */
import type { Context } from "hono";
import { assertKeyUsable } from "../auth/authenticate";
import { getModel, listModels } from "../catalog/models";
import type { AppEnv } from "../env";
import { identify } from "../http/identify";
import type { Target } from "../lib/target";

export async function modelsRoute(c: Context<AppEnv>, route: { kind: "list" } | { kind: "get"; target: Target; raw: string }): Promise<Response> {
  const { config } = c.var;
  const { key, kind } = await identify(c, { direct: true });
  assertKeyUsable(key);
  const direct = kind === "direct";
  return c.json(route.kind === "list" ? listModels(config, key, direct) : getModel(config, key, route.target, route.raw, direct));
}
