/**
 * Every request the resource routes make to Gemini: the one upstream client's (src/providers/transport.ts), with the
 * credential the pinning rule gives a call that uses files and caches (src/providers/credentials/choice.ts: the
 * provider's `resources` credential, `GEMINI_API_KEY`), and the request the Gemini provider builds for its resources
 * API (src/providers/gemini): the key only in `x-goog-api-key`, only to the configured base's origin, never in a URL.
 * It is redacted from any upstream text passed on. Redirects are not followed (a 3xx is a 502), except by
 * downloads, which follow a few to `https:` (the file's storage) without the key.
 */
import type { Config } from "../config";
import { GatewayError } from "../gemini/errors";
import { readText } from "../pipeline/body";
import { pinnedCredential } from "../providers/credentials/choice";
import { upstreamFetch, type UpstreamInit as TransportInit } from "../providers/transport";
import type { Credential, Provider, ResourceApi } from "../providers/types";
import type { AttemptInfo } from "../usage/row";
import { noteRefusal } from "./vanished";

/** The provider whose files, caches, batches and operations the resource routes serve. */
export const RESOURCES_PROVIDER = "gemini";

export interface UpstreamInit extends TransportInit {
  method: string;
  headers?: Record<string, string>;
}

/** Upstream error bodies are read this far at most: enough for any real error, not a way to exhaust memory. */
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_DOWNLOAD_REDIRECTS = 3;

export class Upstream {
  /** What was tried, for the call's usage row. */
  readonly attempts: AttemptInfo[] = [];
  private readonly provider: Provider;
  private readonly api: ResourceApi;
  /** The credential holding the gateway's files and caches; undefined when `GEMINI_API_KEY` is not set. */
  private readonly credential: Credential | undefined;

  constructor(config: Config) {
    this.provider = config.providers.get(RESOURCES_PROVIDER)!;
    this.api = this.provider.resourceApi!;
    this.credential = pinnedCredential(this.provider, true);
  }

  /** Whether resource calls can be made at all (the credential is set). */
  get configured(): boolean {
    return this.credential !== undefined;
  }

  /** `path` is below the base, e.g. `v1beta/files/abc` (with its query, if any). Non-2xx answers are thrown. */
  async call(path: string, init: UpstreamInit): Promise<Response> {
    return this.send(this.api.url(path), init);
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
    let url = this.api.url(path);
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
      if (!next || hop === MAX_DOWNLOAD_REDIRECTS || (next.protocol !== "https:" && next.origin !== this.api.origin) || next.username || next.password) {
        throw this.redirected();
      }
      url = next.href;
    }
  }

  private async fetch(url: string, init: UpstreamInit): Promise<Response> {
    const credential = this.credential;
    if (!credential) throw new GatewayError(503, "gemini is not configured (GEMINI_API_KEY): files, caches, batches and operations are unavailable");
    const headers = this.api.headers(url, init.headers, credential);
    const started = Date.now();
    const attempt: AttemptInfo = { target: RESOURCES_PROVIDER, status: 0, reason: "ok", latency_ms: 0 };
    this.attempts.push(attempt);
    try {
      const res = await upstreamFetch(this.provider, url, { method: init.method, headers, body: init.body, signal: init.signal });
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
    throw noteRefusal(this.provider.error(res.status, text, this.credential?.secrets ?? []), text);
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
