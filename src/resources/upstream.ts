/**
 * Every request the resource routes make to Gemini. The provider key goes only in `x-goog-api-key`, only to the
 * configured base's origin, never in a URL, and is redacted from any upstream text passed on. Redirects are not
 * followed (a 3xx is a 502), except by downloads, which follow a few to `https:` (the file's storage) without the key.
 */
import { GatewayError, upstreamError } from "../gemini/errors";
import { readText } from "../pipeline/body";
import type { AttemptInfo } from "../usage/row";
import type { ResourceSettings } from "./settings";
import { noteRefusal } from "./vanished";

export interface UpstreamInit {
  method: string;
  headers?: Record<string, string>;
  body?: BodyInit | null;
  signal?: AbortSignal;
}

/** Upstream error bodies are read this far at most: enough for any real error, not a way to exhaust memory. */
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_DOWNLOAD_REDIRECTS = 3;

export class Upstream {
  /** What was tried, for the call's usage row. */
  readonly attempts: AttemptInfo[] = [];

  constructor(readonly settings: ResourceSettings) {}

  /** `path` is below the base, e.g. `v1beta/files/abc` (with its query, if any). Non-2xx answers are thrown. */
  async call(path: string, init: UpstreamInit): Promise<Response> {
    return this.send(`${this.settings.base}/${path}`, init);
  }

  /** `call`, with the answer's JSON object. */
  async json<T = Record<string, unknown>>(path: string, init: UpstreamInit): Promise<T> {
    return readJsonObject<T>(await this.call(path, init));
  }

  /** A URL the upstream named (a resumable upload's): the key goes along only when it is on the base's origin. */
  async send(url: string, init: UpstreamInit): Promise<Response> {
    const res = await this.fetch(url, init);
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw this.redirected();
    }
    return this.checked(res);
  }

  /**
   * A download: redirects to `https:` (or to the base's own origin) are followed, a few at most, and the key is sent
   * only to the base's origin; the address redirected to is never shown to the caller.
   */
  async download(path: string, init: UpstreamInit): Promise<Response> {
    let url = `${this.settings.base}/${path}`;
    for (let hop = 0; ; hop++) {
      const res = await this.fetch(url, init);
      if (res.status < 300 || res.status >= 400) return this.checked(res);
      await res.body?.cancel();
      const location = res.headers.get("location");
      let next: URL | undefined;
      try {
        next = location ? new URL(location, url) : undefined;
      } catch {
        next = undefined;
      }
      if (!next || hop === MAX_DOWNLOAD_REDIRECTS || (next.protocol !== "https:" && next.origin !== this.settings.origin) || next.username || next.password) {
        throw this.redirected();
      }
      url = next.href;
    }
  }

  private async fetch(url: string, init: UpstreamInit): Promise<Response> {
    const { apiKey, origin } = this.settings;
    if (!apiKey) throw new GatewayError(503, "gemini is not configured (GEMINI_API_KEY): files, caches, batches and operations are unavailable");
    const headers = new Headers(init.headers);
    if (new URL(url).origin === origin) headers.set("x-goog-api-key", apiKey);
    const started = Date.now();
    const attempt: AttemptInfo = { target: "gemini", status: 0, reason: "ok", latency_ms: 0 };
    this.attempts.push(attempt);
    try {
      const res = await fetch(url, { method: init.method, headers, body: init.body, redirect: "manual", signal: init.signal });
      attempt.status = res.status;
      if (res.status >= 300) attempt.reason = `upstream ${res.status}`;
      return res;
    } catch (e) {
      const aborted = init.signal?.aborted;
      attempt.status = aborted ? 499 : 502;
      attempt.reason = aborted ? "client went away" : "upstream unreachable";
      throw aborted ? new GatewayError(499, "client went away") : new GatewayError(502, "gemini: upstream unreachable");
    } finally {
      attempt.latency_ms = Date.now() - started;
    }
  }

  private async checked(res: Response): Promise<Response> {
    if (res.ok) return res;
    const { text } = res.body ? await readText(res.body, MAX_ERROR_BYTES) : { text: "" };
    throw noteRefusal(upstreamError(res.status, text, "gemini", this.settings.apiKey ? [this.settings.apiKey] : []), text);
  }

  private redirected(): GatewayError {
    const a = this.attempts.at(-1);
    if (a) a.reason = "redirect refused";
    return new GatewayError(502, "gemini: the upstream answered with a redirect, which the gateway does not follow");
  }
}

/**
 * A 2xx answer's JSON object (a 502 when it is not one). Resource objects are small, except a finished batch with
 * its inlined responses: bounded so that one answer cannot take the isolate's memory.
 */
export const MAX_JSON_BYTES = 32 * 1024 * 1024;

export async function readJsonObject<T>(res: Response): Promise<T> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > MAX_JSON_BYTES) {
    await res.body?.cancel();
    throw tooBig();
  }
  const { text, over } = res.body ? await readText(res.body, MAX_JSON_BYTES) : { text: "", over: false };
  if (over) throw tooBig();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatewayError(502, "gemini: the upstream's answer is not JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new GatewayError(502, "gemini: the upstream's answer is not a JSON object");
  return v as T;
}

const tooBig = () =>
  new GatewayError(502, `gemini: the upstream's answer is over ${MAX_JSON_BYTES / 1024 / 1024} MiB (a batch this large should write its responses to a file)`);
