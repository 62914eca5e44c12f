/** The models list/get answers: what the configured providers offer, filtered by the key's allow-lists. */
import { isTargetAllowed } from "../auth/authenticate";
import type { KeyRecord } from "../auth/key-record";
import type { Config } from "../config";
import { notFound } from "../gemini/errors";
import type { Target } from "../plan/target";
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

export function listModels(config: Config, key: KeyRecord) {
  const models = [];
  for (const p of config.providers.values()) {
    if (!p.configured) continue;
    for (const m of p.models) if (isTargetAllowed(key, { provider: p.name, model: m.id })) models.push(toGeminiModel(p, m));
  }
  return { models };
}

export function getModel(config: Config, key: KeyRecord, t: Target, raw: string) {
  const p = config.providers.get(t.provider);
  const m = p?.configured ? p.models.find((x) => x.id === t.model) : undefined;
  if (!p || !m || !isTargetAllowed(key, t)) throw notFound(`model "${raw}" not found`);
  return toGeminiModel(p, m);
}
