/**
 * What the resource routes need of the Worker's vars beyond src/config.ts, parsed once per isolate (keyed by the env
 * object, like the config): the largest upload and the batch price factor. The Gemini upstream itself (its base URL,
 * its key) is the config's, through the provider (src/resources/upstream.ts).
 */
import { getConfig } from "../config";
import type { Env } from "../env";
import { RESOURCES_PROVIDER } from "./upstream";

export { GEMINI_PUBLIC_HOST } from "../providers/gemini";

export interface ResourceSettings {
  /** Host names a Gemini file URI may carry: the public host, and the configured base's. */
  readonly fileHosts: ReadonlySet<string>;
  /** Largest file an upload may declare or send (`MAX_UPLOAD_BYTES`, default 2 GiB: Gemini's per-file limit). */
  maxUploadBytes: number;
  /** A batch's usage is charged at this fraction of the interactive price (`BATCH_PRICE_FACTOR`, default 0.5). */
  batchPriceFactor: number;
}

const DEFAULT_MAX_UPLOAD = 2 * 1024 ** 3;
const DEFAULT_BATCH_FACTOR = 0.5;

const cache = new WeakMap<object, ResourceSettings>();

export function resourceSettings(env: Env): ResourceSettings {
  let s = cache.get(env);
  if (!s) cache.set(env, (s = build(env)));
  return s;
}

function build(env: Env): ResourceSettings {
  const api = getConfig(env).providers.get(RESOURCES_PROVIDER)!.resourceApi!;
  return {
    get fileHosts() {
      return api.fileHosts;
    },
    maxUploadBytes: number(env.MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD, (n) => Number.isInteger(n) && n >= 1),
    batchPriceFactor: number(env.BATCH_PRICE_FACTOR, DEFAULT_BATCH_FACTOR, (n) => n >= 0 && n <= 1),
  };
}

function number(v: unknown, fallback: number, ok: (n: number) => boolean): number {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (Number.isFinite(n) && ok(n)) return n;
  console.error(`config: ${String(v).slice(0, 40)} is out of range; the default ${fallback} applies`);
  return fallback;
}
