/**
 * Turns what `execute` served into the client's Response. Streams are pulled one chunk at a time from the
 * upstream (no buffering), watched for usage as they pass, and closed with a Gemini error event if the upstream
 * breaks after the first byte. A client that goes away cancels the upstream.
 */
import type { GenerateContentResponse, UsageMetadata } from "../gemini/schema";
import { errorResponse, GatewayError, redactError, toGatewayError } from "../gemini/errors";
import { encodeSse } from "../streaming/sse";
import type { CallContext, CallScope } from "./context";
import { streamError, upstreamAttempts, type Served } from "./execute";
import { recordCall } from "./record";

/** The gateway's answer headers, as a plain record: the Response builds its Headers once from it. */
export function gatewayHeaders(ctx: Pick<CallScope, "requestId">, s?: Served): Record<string, string> {
  if (!s) return { "x-edgeway-request-id": ctx.requestId };
  return {
    "x-edgeway-request-id": ctx.requestId,
    "x-edgeway-provider": s.target.provider,
    "x-edgeway-model": s.target.model,
    "x-edgeway-attempts": String(upstreamAttempts(s.attempts)),
  };
}

export const JSON_TYPE = "application/json; charset=utf-8";

export function respondJson(ctx: CallContext, s: Served): Response {
  const h = gatewayHeaders(ctx, s);
  h["content-type"] = JSON_TYPE;
  const body = s.raw ?? JSON.stringify(s.json);
  const usage = s.json?.usageMetadata ?? charged(ctx, undefined, s.json ? textLength(s.json) : 0);
  recordCall(ctx, {
    target: s.target, index: s.index, attempts: s.attempts, status: 200, outcome: "ok", error: null,
    usage, ttfbMs: Date.now() - ctx.startedAt,
  });
  return new Response(body, { status: 200, headers: h });
}

/**
 * `idleMs`: the longest the upstream may stay silent (no bytes at all) once the first chunk went out (the attempt's
 * first-byte timeout); past it the upstream is cancelled and the stream ends with a 504 error event rather than
 * hanging both connections.
 */
export function respondStream(ctx: CallContext, s: Served, idleMs: number): Response {
  const { first, rest, abort, heard, partialUsage } = s.stream!;
  const provider = ctx.config.providers.get(s.target.provider)!;
  const ttfbMs = Date.now() - ctx.startedAt;
  let usage: UsageMetadata | undefined;
  let sentChars = 0;
  let pending: GenerateContentResponse | undefined = first;
  let ended = false;
  // Holds the request open until the stream has ended one way or another and its row is queued.
  let done!: () => void;
  ctx.waitUntil(new Promise<void>((resolve) => (done = resolve)));

  const end = (outcome: "ok" | "error" | "aborted", status: number, error: string | null) => {
    if (ended) return;
    ended = true;
    // A stream that ended early is charged what it used: the provider's figures so far, else the estimates.
    const final = outcome === "ok" && usage?.candidatesTokenCount !== undefined ? usage : charged(ctx, usage ?? partialUsage?.(), sentChars);
    recordCall(ctx, { target: s.target, index: s.index, attempts: s.attempts, status, outcome, error, usage: final, ttfbMs });
    done();
  };
  const emit = (c: ReadableStreamDefaultController<Uint8Array>, chunk: GenerateContentResponse) => {
    if (chunk.usageMetadata) usage = chunk.usageMetadata;
    sentChars += textLength(chunk);
    c.enqueue(encodeSse(chunk));
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (pending) {
          emit(c, pending);
          pending = undefined;
          return;
        }
        let idle: ReturnType<typeof setTimeout> | undefined;
        try {
          const silence = new Promise<never>((_, reject) => {
            // Silence is measured from the upstream's latest bytes, not the latest chunk sent on.
            const check = () => {
              const quiet = Date.now() - heard.at;
              if (quiet < idleMs) idle = setTimeout(check, idleMs - quiet);
              else reject(new GatewayError(504, `${provider.name}: no data from the upstream for ${idleMs} ms`));
            };
            idle = setTimeout(check, idleMs);
          });
          const r = await Promise.race([rest.read(), silence]);
          if (r.done) {
            c.close();
            end("ok", 200, null);
          } else emit(c, r.value);
        } catch (e) {
          // Bytes already went out: no fallback now, one final error event instead of a spliced answer.
          const ge = redactError(streamError(provider, e, s.secrets), ctx.config.redact);
          c.enqueue(encodeSse(ge.toBody()));
          c.close();
          abort.abort();
          rest.cancel().catch(() => {});
          end("error", ge.code, ge.message);
        } finally {
          clearTimeout(idle);
        }
      },
      cancel(reason) {
        abort.abort();
        rest.cancel(reason).catch(() => {});
        end("aborted", 499, "client disconnected");
      },
    },
    { highWaterMark: 0 },
  );

  const h = gatewayHeaders(ctx, s);
  h["content-type"] = "text/event-stream";
  h["cache-control"] = "no-cache";
  return new Response(body, { status: 200, headers: h });
}

/** Any failure of an attributed call: one usage row, then the Gemini error. `attempts` is empty before execute. */
export function respondError(ctx: CallScope, err: unknown, attempts: Served["attempts"]): Response {
  const e = redactError(toGatewayError(err), ctx.config.redact);
  recordCall(ctx, {
    target: null, index: null, attempts, status: e.code,
    // 499: the client left before the first byte (a retry wait or an attempt was cut short).
    outcome: e.code === 499 ? "aborted" : "error",
    error: e.message, usage: undefined, ttfbMs: null,
  });
  const h = gatewayHeaders(ctx);
  h["x-edgeway-attempts"] = String(upstreamAttempts(attempts));
  return errorResponse(e, h);
}

/**
 * Usage for a call the provider did not (fully) report: each count as reported so far, else estimated — the input
 * as at admission, the output at four characters a token of the text sent.
 */
function charged(ctx: CallScope, seen: UsageMetadata | undefined, outputChars: number): UsageMetadata | undefined {
  const input = seen?.promptTokenCount ?? ctx.inputTokens ?? 0;
  const output = seen?.candidatesTokenCount ?? Math.ceil(outputChars / 4);
  if (!input && !output && !seen) return undefined;
  return { ...seen, promptTokenCount: input, candidatesTokenCount: output, totalTokenCount: input + output + (seen?.thoughtsTokenCount ?? 0) };
}

/** Characters of text (thoughts included) in an answer or chunk. */
function textLength(r: GenerateContentResponse): number {
  let n = 0;
  for (const c of r.candidates ?? []) for (const p of c.content?.parts ?? []) if (typeof p.text === "string") n += p.text.length;
  return n;
}
