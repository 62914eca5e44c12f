/**
 * The hooks of this isolate: those the config turns on (none built in yet: the cache, guardrails and telemetry will
 * add theirs here) followed by those registered in code. Built once per config and kept with it; the hot path asks
 * for them with one comparison and then checks the list's length.
 */
import type { Config } from "../config";
import { GatewayError } from "../gemini/errors";
import type { Hook } from "./hook";
import { guardrailsHook } from "../guardrails/hook";

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
 * The hooks a config turns on. Guardrails first: they see the prompt before any other hook (a cache keys on the
 * redacted prompt, never answers a blocked one), see every answer last (a cached one too), and their headers object
 * are read when the answer's are built, so an output action can still name itself on a JSON answer.
 */
function configuredHooks(config: Config): Hook[] {
  return config.guardrails ? [guardrailsHook(config.guardrails)] : [];
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
