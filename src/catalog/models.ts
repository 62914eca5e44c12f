/** The models list/get answers: what the configured providers offer, filtered by the key's allow-lists. */
import { isTargetAllowed } from "../auth/authenticate";
import type { KeyRecord } from "../keys/key-record";
import type { Config } from "../config";
import { notFound } from "../gemini/errors";
import type { Target } from "../lib/target";
import type { ModelInfo, Provider } from "../providers/types";

/** Gemini's `Model` resource. Gemini models keep their bare names so SDK code written for Gemini is unchanged. */
function toGeminiModel(p: Provider, m: ModelInfo) {
  const id = p.name === "gemini" ? m.id : `${p.name}/${m.id}`;
  return {
    name: `models/${id}`,
    baseModelId: id,
    version: "001",
    displayName: m.displayName,
    description: `${m.displayName} via edgeway (provider ${p.name})`,
    ...(m.inputTokenLimit ? { inputTokenLimit: m.inputTokenLimit } : {}),
    ...(m.outputTokenLimit ? { outputTokenLimit: m.outputTokenLimit } : {}),
    supportedGenerationMethods: m.actions,
  };
}

/**
 * Whether a model of a provider is served to this caller: a virtual key's call needs a configured provider with a
 * credential for the model; a direct call (the caller's own key) needs a provider that takes one.
 */
function served(p: Provider, model: string, direct: boolean): boolean {
  return direct ? !!p.direct : p.configured && p.pool.serves(model);
}

export function listModels(config: Config, key: KeyRecord, direct = false) {
  const models = [];
  for (const p of config.providers.values()) {
    for (const m of p.models) {
      if (served(p, m.id, direct) && isTargetAllowed(key, { provider: p.name, model: m.id })) models.push(toGeminiModel(p, m));
    }
  }
  return { models };
}

export function getModel(config: Config, key: KeyRecord, t: Target, raw: string, direct = false) {
  const p = config.providers.get(t.provider);
  const m = p && served(p, t.model, direct) ? p.models.find((x) => x.id === t.model) : undefined;
  if (!p || !m || !isTargetAllowed(key, t)) throw notFound(`model "${raw}" not found`);
  return toGeminiModel(p, m);
}
