/**
 * Turns what `execute` served into the client's Response. Streams are passed on one chunk at a time, each read
 * from the upstream only once the client has taken the last (no buffering), watched for usage as they pass, and
 * closed with a Gemini error event if the upstream breaks after the first byte. A client that goes away cancels the
 * upstream.
 */
import type { GenerateContentResponse, UsageMetadata } from "../gemini/schema";
import type { GeminiJson } from "../providers/types";
import { errorResponse, GatewayError, redactError, toGatewayError } from "../gemini/errors";
import { SseFrames } from "../streaming/sse";
import type { CallContext, CallEnd, CallScope } from "./context";
import { streamError, upstreamAttempts, type Served } from "./execute";
import { answerRedactor } from "./redact-answer";
import type { Answered } from "../hooks/before-upstream";
import { answerTap, type AnswerTap } from "../hooks/answer";

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

export function respondJson(ctx: CallContext, s: Answered): Response | Promise<Response> {
  // The call's secrets out of the answer's text: the upstream's own text goes out when there were none in it.
  const shown = s.json && answerRedactor(s.secrets)?.chunk(s.json, true);
  if (s.engaged) return respondJsonHooked(ctx, s, shown, answerTap(ctx, s.engaged));
  return jsonResponse(ctx, s, shown, gatewayHeaders(ctx, s));
}

/** With hooks: the answer passes the tap (a hook that fails on it fails the call) and takes the hooks' headers. */
async function respondJsonHooked(ctx: CallContext, s: Answered, shown: GeminiJson | undefined, tap: AnswerTap | undefined): Promise<Response> {
  try {
    if (tap && s.json) shown = await tap.pass(shown ?? s.json);
  } catch (e) {
    return respondError(ctx, e, s.attempts, { target: s.target, usage: usedBy(ctx, s) }, s.answeredBy);
  }
  return jsonResponse(ctx, s, shown, withAnswerHeaders(gatewayHeaders(ctx, s), s));
}

function jsonResponse(ctx: CallContext, s: Answered, shown: GeminiJson | undefined, h: Record<string, string>): Response {
  h["content-type"] = JSON_TYPE;
  const body = shown && shown !== s.json ? JSON.stringify(shown) : (s.raw ?? JSON.stringify(s.json));
  ctx.end({
    target: s.target, index: s.index, attempts: s.attempts, status: 200, outcome: "ok", error: null,
    usage: usedBy(ctx, s), ttfbMs: Date.now() - ctx.startedAt, units: imagesMade(ctx, s), answeredBy: s.answeredBy,
  });
  return new Response(body, { status: 200, headers: h });
}

/** What a JSON answer used: the provider's figures, else estimated. */
function usedBy(ctx: CallContext, s: Served): UsageMetadata | undefined {
  return s.json?.usageMetadata ?? charged(ctx, undefined, s.json ? textLength(s.json) : 0);
}

/**
 * `client`: the incoming request's signal, listened to for the stream's life (a stream is long enough to afford it).
 * `idleMs`: the longest the upstream may stay silent (no bytes at all) once the first chunk went out (the attempt's
 * first-byte timeout); past it the upstream is cancelled and the stream ends with a 504 error event rather than
 * hanging both connections.
 *
 * The answer is written, not pulled: one loop reads a chunk from the upstream, frames it into the stream's one
 * reused buffer and waits until the client side has taken it (the write's promise) before it reads the next. So
 * nothing is buffered, the upstream is read only as fast as the client reads, and no event needs a buffer of its
 * own (see SseFrames). The loop runs in waitUntil: it holds the request open until the stream has ended one way or
 * another and its row is queued.
 */
export function respondStream(ctx: CallContext, s: Answered, idleMs: number, client?: AbortSignal): Response {
  const { first, rest, abort, heard, partialUsage } = s.stream!;
  const provider = ctx.config.providers.get(s.target.provider)!;
  const ttfbMs = Date.now() - ctx.startedAt;
  const out = new IdentityTransformStream();
  const writer = out.writable.getWriter();
  const frames = new SseFrames();
  // The answer's text is redacted as one text across chunks (a secret cut into pieces is still found).
  const answer = answerRedactor(s.secrets);
  // The hooks engaged with the call that look at answers see each event after the redaction (none: no tap).
  const tap = s.engaged && answerTap(ctx, s.engaged);
  let usage: UsageMetadata | undefined;
  let sentChars = 0;

  const end = (outcome: "ok" | "error" | "aborted", status: number, error: string | null) => {
    // A stream that ended early is charged what it used: the provider's figures so far, else the estimates.
    const final = outcome === "ok" && usage?.candidatesTokenCount !== undefined ? usage : charged(ctx, usage ?? partialUsage?.(), sentChars);
    ctx.end({ target: s.target, index: s.index, attempts: s.attempts, status, outcome, error, usage: final, ttfbMs, answeredBy: s.answeredBy });
  };
  // The client went away: its signal (a deployed runtime aborts it when the client disconnects) or its side of the
  // stream cancelled, which the runtime reports on the next write (and `closed` then fails too). Whatever the loop
  // waits on is guarded: it fails as soon as the client has gone. (Not a race with one promise for the stream's life:
  // each race would leave a reaction on it holding that step's result, every chunk, until the stream ends.)
  let left: ClientGone | undefined;
  let leave: ((e: ClientGone) => void) | undefined;
  const goneNow = (reason: unknown) => {
    left ??= new ClientGone(reason);
    leave?.(left);
  };
  const onAbort = () => goneNow(client!.reason);
  writer.closed.catch(goneNow);
  if (client?.aborted) goneNow(client.reason);
  else client?.addEventListener("abort", onAbort, { once: true });
  const guard = <T,>(p: Promise<T>): Promise<T> => {
    if (left) return Promise.reject(left);
    return new Promise<T>((resolve, reject) => {
      leave = reject;
      p.then(resolve, reject);
    });
  };
  // Each write (and the close) is waited for, since the frame's buffer is reused.
  const settled = (p: Promise<void>) => guard(p.catch((e) => Promise.reject(new ClientGone(e))));
  const send = (frame: Uint8Array) => settled(writer.write(frame));

  // The events still to send once the upstream has ended: its held tail, past the hooks, and what they held.
  const ended = async (tail: GenerateContentResponse | undefined): Promise<GenerateContentResponse[]> =>
    tap ? tap.finish(tail) : tail ? [tail] : [];

  const pump = async () => {
    let chunk = first;
    let idle: ReturnType<typeof setTimeout> | undefined;
    try {
      for (;;) {
        if (chunk.usageMetadata) usage = chunk.usageMetadata;
        sentChars += textLength(chunk);
        const shown = answer ? answer.chunk(chunk) : chunk;
        await send(frames.frame(tap ? await tap.pass(shown) : shown));
        if (tap?.ended) {
          // A hook ended the stream (a guardrail's block): the upstream is let go, the client's side closed.
          abort.abort();
          rest.cancel().catch(() => {});
          await settled(writer.close());
          break;
        }
        const silence = new Promise<never>((_, reject) => {
          // Silence is measured from the upstream's latest bytes, not the latest chunk sent on.
          const check = () => {
            const quiet = Date.now() - heard.at;
            if (quiet < idleMs) idle = setTimeout(check, idleMs - quiet);
            else reject(new GatewayError(504, `${provider.name}: no data from the upstream for ${idleMs} ms`));
          };
          idle = setTimeout(check, idleMs);
        });
        const r = await guard(Promise.race([rest.read(), silence]));
        clearTimeout(idle);
        if (r.done) {
          // What the redaction and the hooks still held (a stream that ended with no finishReason) goes out, checked.
          for (const last of await ended(answer?.tail())) await send(frames.frame(last));
          // A client that left after the last write hears of the end as a failed close: the stream was cut short for it.
          await settled(writer.close());
          break;
        }
        chunk = r.value;
      }
    } catch (e) {
      clearTimeout(idle);
      abort.abort();
      rest.cancel(e).catch(() => {});
      if (!(e instanceof ClientGone)) {
        // Bytes already went out: no fallback now, one final error event instead of a spliced answer. A client that
        // left before it got the event (the write fails) ended the call first: its row says aborted.
        const ge = redactError(streamError(provider, e, s.secrets), ctx.config.redact);
        // The text a tail held began no secret: it goes out ahead of the error (past the hooks, or not at all when
        // one of them fails on it), and so does what a hook held back (checked).
        const tails = await ended(answer?.tail()).catch(() => []);
        const delivered = await tails.reduce((p, t) => p.then(() => send(frames.frame(t))), Promise.resolve())
          .then(() => send(frames.frame(ge.toBody())))
          .then(() => true, () => false);
        if (delivered) {
          end("error", ge.code, ge.message);
          await settled(writer.close()).catch(() => {});
          return;
        }
      }
      end("aborted", 499, "client disconnected");
      await writer.abort(e instanceof ClientGone ? e.reason : e).catch(() => {});
      return;
    }
    end("ok", 200, null);
  };
  ctx.waitUntil(pump().finally(() => client?.removeEventListener("abort", onAbort)));

  const h = s.engaged ? withAnswerHeaders(gatewayHeaders(ctx, s), s) : gatewayHeaders(ctx, s);
  h["content-type"] = "text/event-stream";
  h["cache-control"] = "no-cache";
  return new Response(out.readable, { status: 200, headers: h });
}

/** The hooks' headers for the answer under the gateway's own (which they do not replace). */
function withAnswerHeaders(h: Record<string, string>, s: Answered): Record<string, string> {
  return s.answerHeaders ? { ...s.answerHeaders, ...h } : h;
}

/** The client's side of a stream was cancelled: it disconnected. */
class ClientGone extends Error {
  constructor(readonly reason: unknown) {
    super("client disconnected");
  }
}

/**
 * Any failure of an attributed call: its outcome (for its one row: src/http/call.ts), then the Gemini error.
 * `attempts` is empty before execute.
 */
/** `used`: what a call that failed still used upstream (a resource route's create), for its row. */
/** `answeredBy`: the hook whose own answer failed (its row prices nothing). */
export function respondError(
  ctx: CallScope, err: unknown, attempts: Served["attempts"], used?: Pick<CallEnd, "target" | "usage">, answeredBy?: string,
): Response {
  const e = redactError(toGatewayError(err), ctx.config.redact);
  ctx.end({
    target: used?.target ?? null, index: used?.target ? 0 : null, attempts, status: e.code, usage: used?.usage, answeredBy,
    // 499: the client left before the first byte (a retry wait or an attempt was cut short).
    outcome: e.code === 499 ? "aborted" : "error",
    error: e.message, ttfbMs: null,
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

/** Imagen on Gemini and Vertex bills each image it made (`predictions[]`); other image models bill tokens. */
function imagesMade(ctx: CallContext, s: Served): { images: number } | undefined {
  if (ctx.action !== "predict" || (s.target.provider !== "gemini" && s.target.provider !== "vertex")) return undefined;
  const p = (s.json as { predictions?: unknown } | undefined)?.predictions;
  return { images: Array.isArray(p) ? p.length : 0 };
}

/** Characters of text (thoughts included) in an answer or chunk. */
function textLength(r: GenerateContentResponse): number {
  let n = 0;
  for (const c of r.candidates ?? []) for (const p of c.content?.parts ?? []) if (typeof p.text === "string") n += p.text.length;
  return n;
}
