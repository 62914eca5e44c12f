/**
 * /genai: request id → route → the route's handler. Model actions, the models list and resource paths are sibling
 * handlers; each identifies its key and opens its call scope (src/routes/model-action.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { parseGenaiPath } from "./genai-path";
import { isLiveRoute, liveRoute } from "./live";
import { modelAction } from "./model-action";
import { modelsRoute } from "./models";
import { requestId } from "./request-id";
import { resourceRoute } from "./resources";
import { SELF_KEY_PATH, selfKeyRoute } from "./self-key";

export const genaiApp = new Hono<AppEnv>();

genaiApp.use("*", requestId);

genaiApp.all("*", (c) => {
  if (new URL(c.req.url).pathname === SELF_KEY_PATH) return selfKeyRoute(c);
  const route = parseGenaiPath(c.req.method, new URL(c.req.url).pathname, c.var.config.providerNames);
  switch (route.kind) {
    case "list":
    case "get":
      return modelsRoute(c, route);
    case "action":
      return modelAction(c, route);
    case "resource":
      if (isLiveRoute(route)) return liveRoute(c, route);
      return resourceRoute(c, route);
  }
});
