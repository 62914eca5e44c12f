/**
 * What the resource routes need of the Worker's vars and secrets, parsed once per isolate (keyed by the env object,
 * like src/config.ts): the Gemini upstream (its base URL and key), the largest upload, and the batch price factor.
 */
import type { Env } from "../env";
import { GEMINI_DEFAULT_BASE_URL } from "../providers/gemini";

export interface ResourceSettings {
  /** Gemini's base URL, without a trailing slash. */
  base: string;
  /** Its origin: an upload or download URL the upstream names is only sent the key when it is on this origin. */
  origin: string;
  /** Host names a Gemini file URI may carry: the public host, and the configured base's. */
  fileHosts: ReadonlySet<string>;
  apiKey: string | undefined;
  /** Largest file an upload may declare or send (`MAX_UPLOAD_BYTES`, default 2 GiB: Gemini's per-file limit). */
  maxUploadBytes: number;
  /** A batch's usage is charged at this fraction of the interactive price (`BATCH_PRICE_FACTOR`, default 0.5). */
  batchPriceFactor: number;
}

export const GEMINI_PUBLIC_HOST = "generativelanguage.googleapis.com";
const DEFAULT_MAX_UPLOAD = 2 * 1024 ** 3;
const DEFAULT_BATCH_FACTOR = 0.5;

const cache = new WeakMap<object, ResourceSettings>();

export function resourceSettings(env: Env): ResourceSettings {
  let s = cache.get(env);
  if (!s) cache.set(env, (s = build(env)));
  return s;
}

function build(env: Env): ResourceSettings {
  const base = (env.GEMINI_BASE_URL || GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, "");
  const url = new URL(base);
  return {
    base,
    origin: url.origin,
    fileHosts: new Set([GEMINI_PUBLIC_HOST, url.hostname.toLowerCase()]),
    apiKey: env.GEMINI_API_KEY || undefined,
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
