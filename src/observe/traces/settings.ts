/**
 * The OpenTelemetry trace export's settings, from the standard `OTEL_*` vars (docs/observability.md, "Traces"):
 * parsed once per isolate with the rest of the config. Unset `OTEL_EXPORTER_OTLP_ENDPOINT`: no settings, no hook,
 * nothing on any call.
 */
import type { Env } from "../../env";
import { redactor, type Redactor } from "../../gemini/redact";

declare module "../../env" {
  interface Env {
    /** Base URL of an OTLP/HTTP collector: traces go to `{endpoint}/v1/traces`. Unset: no traces. */
    OTEL_EXPORTER_OTLP_ENDPOINT?: string;
    /** A secret: `k=v,k2=v2` (values URL-encoded), sent with every export (an API key, `Authorization=Basic …`). */
    OTEL_EXPORTER_OTLP_HEADERS?: string;
    /** `http/protobuf` (default) or `http/json`. */
    OTEL_EXPORTER_OTLP_PROTOCOL?: string;
    /** How long one export may take, in ms (default 10000). */
    OTEL_EXPORTER_OTLP_TIMEOUT?: string;
    /** The `service.name` of the spans (default `edgeway`). */
    OTEL_SERVICE_NAME?: string;
    /** `true`: prompts and answers go with the spans, redacted. Default off. */
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?: string;
  }
}

export interface TraceSettings {
  /** `{endpoint}/v1/traces`. */
  url: string;
  json: boolean;
  /** The export's headers (a secret: never logged). */
  headers: Record<string, string>;
  timeoutMs: number;
  serviceName: string;
  captureContent: boolean;
  /** The gateway's redaction plus the export headers' values: applied to every text a span carries. */
  redact: Redactor;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The settings, or undefined when traces are off (no endpoint, or one that is not an http(s) URL). */
export function traceSettings(env: Env, secrets: readonly (string | undefined)[]): TraceSettings | undefined {
  const endpoint = typeof env.OTEL_EXPORTER_OTLP_ENDPOINT === "string" ? env.OTEL_EXPORTER_OTLP_ENDPOINT.trim() : "";
  if (!endpoint) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    console.error("config OTEL_EXPORTER_OTLP_ENDPOINT is not a URL; traces are off");
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    console.error(`config OTEL_EXPORTER_OTLP_ENDPOINT scheme ${url.protocol} is not http(s); traces are off`);
    return undefined;
  }
  // The spec's base endpoint: the signal's path is appended to whatever path it has.
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  const protocol = String(env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim();
  if (protocol && protocol !== "http/protobuf" && protocol !== "http/json") {
    console.error(`config OTEL_EXPORTER_OTLP_PROTOCOL "${protocol.slice(0, 40)}" is not http/protobuf or http/json (grpc is not spoken); http/protobuf is used`);
  }
  const headers = parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS);
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TIMEOUT);
  return {
    url: url.toString(),
    json: protocol === "http/json",
    headers,
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.floor(timeout) : DEFAULT_TIMEOUT_MS,
    serviceName: String(env.OTEL_SERVICE_NAME ?? "").trim() || "edgeway",
    captureContent: String(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ?? "").trim().toLowerCase() === "true",
    // A collector's key in a prompt or an upstream's error is as secret as a provider's.
    redact: redactor([...secrets, ...Object.values(headers)]),
  };
}

/** `OTEL_EXPORTER_OTLP_HEADERS`: `k=v` pairs by commas, keys and values URL-encoded. A bad entry is named by position only. */
export function parseHeaders(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof raw !== "string") return out;
  raw.split(",").forEach((entry, i) => {
    if (!entry.trim()) return;
    const eq = entry.indexOf("=");
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(entry.slice(0, eq).trim());
      v = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      k = v = "";
    }
    // A name the Headers class would refuse, or a value with a line break: the entry is left out (its value is a secret).
    if (eq <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n\0]/.test(v)) {
      console.error(`config OTEL_EXPORTER_OTLP_HEADERS: entry ${i + 1} is not name=value; ignored`);
      return;
    }
    out[k.toLowerCase()] = v;
  });
  return out;
}
