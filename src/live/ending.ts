/**
 * How a Live session ended, as its usage row tells it: who closed it (the client, the upstream, the gateway), with
 * what code, and the status, outcome and error that reads as.
 */
import type { GatewayError } from "../gemini/errors";
import type { CallEnd } from "../pipeline/record";
import type { Target } from "../lib/target";
import type { AttemptInfo, ClosedBy } from "../usage/row";
import { clientEnd, upstreamEnd } from "./close";
import { liveCost, modalityTokens, rowUsage, type LiveUsage } from "./usage";

export interface Ending {
  by: ClosedBy;
  /** The close code of the session as the client saw (or sent) it. */
  code: number;
  reason: string;
  /** Why the gateway ended it; none for a guardrail's block. */
  error?: GatewayError;
}

/** The session's row: `wasOpen` tells a client lost mid-session from one lost before its setup. */
export function sessionRow(
  end: Ending,
  wasOpen: boolean,
  s: { target: Target | undefined; attempts: AttemptInfo[]; usage: LiveUsage; ttfbMs: number | null },
): CallEnd {
  let status: number;
  let outcome: CallEnd["outcome"];
  let error: string | null = null;
  if (end.by === "gateway" && !end.error) {
    // A guardrail's block: the gateway answered as it meant to (a blocked REST call is a 200 too).
    status = 200;
    outcome = "ok";
  } else if (end.by === "gateway") {
    status = end.error!.code;
    outcome = status === 499 ? "aborted" : "error";
    error = end.error!.message;
  } else if (end.by === "client") {
    ({ status, outcome } = clientEnd(end.code));
    if (outcome === "aborted") error = wasOpen ? "client connection lost" : "client connection lost before setup";
  } else {
    ({ status, outcome } = upstreamEnd(end.code));
    if (outcome !== "ok") error = `upstream closed the session: ${end.code}${end.reason ? ` ${end.reason}` : ""}`;
  }
  const total = s.usage.total();
  return {
    target: s.target ?? null,
    index: s.target ? 0 : null,
    attempts: s.attempts,
    status,
    outcome,
    error,
    usage: rowUsage(total),
    ttfbMs: s.ttfbMs,
    session: { close_code: end.code, closed_by: end.by, modality_tokens: modalityTokens(total) },
    priced: (price) => liveCost(price, s.usage),
  };
}
