/**
 * The hooks of this isolate: those the config turns on (guardrails, the response cache; telemetry will add its
 * here) followed by those registered in code. Built once per config and kept with it; the hot path asks
 * for them with one comparison and then checks the list's length.
 */
import { responseCache } from "../cache/hook";
import type { Config } from "../config";
import { GatewayError } from "../gemini/errors";
import type { Hook } from "./hook";
import { guardrailsHook } from "../guardrails/hook";
import { bodiesAnswer, bodiesRequest } from "../observe/bodies";

const NONE: readonly Hook[] = Object.freeze([]);

let registered: readonly Hook[] = NONE;
/** The list last built, and for which config: an isolate has one config, so this is nearly always a hit. */
let builtFor: Config | undefined;
let built: readonly Hook[] = NONE;
let byConfig = new WeakMap<Config, readonly Hook[]>();

/** The hooks every call of this config runs, in order. */
export function hooksFor(config: Config): readonly Hook[] {
  if (config !== builtFor) {
    let list = byConfig.get(config);
    if (!list) {
      const all = [...configuredHooks(config), ...registered];
      byConfig.set(config, (list = all.length ? all : NONE));
    }
    builtFor = config;
    built = list;
  }
  return built;
}

/**
 * The hooks a config turns on. Guardrails first, the response cache after them: guardrails see the request before
 * the cache may answer it (a cache keys on the redacted prompt and never answers a blocked one), and a hit's answer
 * passes their answer checks as it replays, as an upstream's would. Guardrails are configured only when GUARDRAILS is
 * set; the cache unless RESPONSE_CACHE=off. Either engages a call only when its key or team sets a policy (`engages`,
 * then `beforeUpstream`), so a call no policy concerns takes the plain path (docs/architecture.md, Hooks). A hook's
 * headers are read when the answer's are built, so a guardrail's output action can still name itself on a JSON answer.
 */
function configuredHooks(config: Config): Hook[] {
  const hooks: Hook[] = [];
  // Stored bodies (LOG_BUCKET bound): the answer's side first (it sees answers last), the request's after the guardrails.
  if (config.logBodies) hooks.push(bodiesAnswer);
  if (config.guardrails) hooks.push(guardrailsHook(config.guardrails));
  if (config.logBodies) hooks.push(bodiesRequest);
  if (config.responseCache) hooks.push(responseCache);
  return hooks;
}

/** Adds a hook for every later call of this isolate (after the configured ones); returns its removal. */
export function registerHook(hook: Hook): () => void {
  registered = [...registered, hook];
  rebuild();
  return () => {
    registered = registered.filter((h) => h !== hook);
    rebuild();
  };
}

function rebuild(): void {
  builtFor = undefined;
  built = NONE;
  byConfig = new WeakMap();
}

/** A hook's failure, as the call's error: the call fails closed. */
export function hookFailed(hook: Hook, stage: string, e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  return new GatewayError(500, `hook "${hook.name}" failed in ${stage}: ${(e as Error)?.message ?? String(e)}`);
}
