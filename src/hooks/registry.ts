/**
 * The hooks of this isolate: those the config turns on (the response cache; guardrails and telemetry will add
 * theirs here) followed by those registered in code. Built once per config and kept with it; the hot path asks
 * for them with one comparison and then checks the list's length.
 */
import { responseCache } from "../cache/hook";
import type { Config } from "../config";
import { GatewayError } from "../gemini/errors";
import type { Hook } from "./hook";

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
 * The hooks a config turns on. The response cache goes last of those that check requests (guardrails go before
 * it): they see the request before the cache may answer it, and a hit's answer passes their answer checks as it
 * replays, as an upstream's would. A call pays for the cache only as its key's policy says.
 */
function configuredHooks(config: Config): Hook[] {
  return config.responseCache ? [responseCache] : [];
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
