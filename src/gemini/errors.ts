/** The one place Gemini-style error bodies are made: {"error":{"code","message","status"}}. */
import { redactor, type Redactor } from "./redact";

const STATUS_BY_CODE: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  402: "RESOURCE_EXHAUSTED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "INVALID_ARGUMENT",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  415: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function grpcStatusFor(code: number): string {
  return STATUS_BY_CODE[code] ?? (code >= 500 ? "INTERNAL" : code >= 400 ? "FAILED_PRECONDITION" : "UNKNOWN");
}

export interface GeminiErrorBody {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

/** The longest error message sent or logged, in characters. */
const MAX_MESSAGE = 3000;

/**
 * The one error type the gateway throws for what the caller is told: HTTP code, Gemini status, message, headers.
 * Thrown where the problem is found and rendered once, as a Gemini error body, by `errorResponse`: Hono's
 * `app.onError` for whatever reaches it, the call's own error path when the answer also carries the gateway's
 * headers and a usage row, and an SSE error event instead once a stream has begun.
 */
export class GatewayError extends Error {
  readonly code: number;
  readonly status: string;
  readonly details?: unknown[];
  readonly headers?: Record<string, string>;

  constructor(
    code: number,
    message: string,
    opts: { status?: string; details?: unknown[]; headers?: Record<string, string> } = {},
  ) {
    // Messages quote what callers and upstreams sent (ids, paths, model strings): bounded, however long that was.
    super(message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message);
    this.code = code;
    this.status = opts.status ?? grpcStatusFor(code);
    this.details = opts.details;
    this.headers = opts.headers;
  }

  toBody(): GeminiErrorBody {
    const error: GeminiErrorBody["error"] = { code: this.code, message: this.message, status: this.status };
    if (this.details?.length) error.details = this.details;
    return { error };
  }
}

export const badRequest = (message: string) => new GatewayError(400, message);
export const notFound = (message: string) => new GatewayError(404, message);

/** Any thrown value as the GatewayError the client sees; anything unexpected is logged and becomes a bare 500. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  console.error("unhandled error", err instanceof Error ? err.stack : String(err));
  return new GatewayError(500, "internal error");
}

export function errorResponse(err: unknown, extraHeaders?: HeadersInit): Response {
  const e = toGatewayError(err);
  const headers = new Headers(extraHeaders);
  headers.set("content-type", "application/json; charset=utf-8");
  for (const [k, v] of Object.entries(e.headers ?? {})) headers.set(k, v);
  return new Response(JSON.stringify(e.toBody()), { status: e.code, headers });
}

/**
 * Normalises an upstream error payload of any provider into a Gemini error body, keeping the upstream's
 * HTTP status. `raw` is the upstream body text; `secrets` (every key of the provider's pool, a caller's own key) are
 * redacted from it, in any spelling (src/gemini/redact.ts).
 */
export function upstreamError(status: number, raw: string, provider: string, secrets: readonly string[] = []): GatewayError {
  // Some upstreams echo the credential they rejected, in any spelling; it must never reach our caller. Redacted
  // before anything is cut (a cut could leave a run too short to recognise), and again once JSON escapes are read.
  const r = redactor(secrets);
  raw = r(raw);
  let message = raw.slice(0, 2000) || `upstream answered HTTP ${status}`;
  let grpc: string | undefined;
  try {
    const j = JSON.parse(raw) as any;
    const e = j?.error ?? j;
    if (typeof e?.message === "string") message = r(e.message);
    else if (typeof e === "string") message = r(e);
    if (typeof e?.status === "string") grpc = e.status;
  } catch {
    /* not JSON: keep the text */
  }
  return new GatewayError(status, `${provider}: ${message.slice(0, 2000)}`, { status: grpc });
}

/** The error with every secret `r` knows taken out of what the caller and the usage log will see. */
export function redactError(e: GatewayError, r: Redactor): GatewayError {
  const message = r(e.message);
  const json = e.details && JSON.stringify(e.details);
  const clean = json && r(json);
  if (message === e.message && clean === json) return e;
  const details = clean ? (JSON.parse(clean) as unknown[]) : e.details;
  return new GatewayError(e.code, message, { status: e.status, details, headers: e.headers });
}

/** An error object sent by the upstream inside an otherwise successful stream. */
export class StreamedUpstreamError extends Error {
  constructor(readonly body: { error: { code?: number; message?: string; status?: string } }) {
    super(body.error?.message ?? "upstream stream error");
  }
}
