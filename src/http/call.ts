/**
 * One attributed call, the same for model actions, resource calls, ephemeral tokens and Live sessions:
 *   identify (c.var.caller) → scope (c.var.call) → admission check (status, rate: before any body is read) →
 *   the route's handler → record.
 * From the moment the key is known every outcome is recorded exactly once, in one `finally`: a usage row, or a
 * refusal count (src/pipeline/record.ts). A handler that answers now hands its outcome to `call.end` before it
 * returns; a stream or a Live session calls it when it has ended; a thrown error is rendered and recorded here.
 */
import type { Context } from "hono";
import { assertKeyUsable } from "../auth/authenticate";
import { ungoverned } from "../auth/direct";
import type { AppEnv } from "../env";
import { Gate } from "../governance/gate";
import type { CallEnd, CallScope } from "../pipeline/context";
import { AllTargetsFailed } from "../pipeline/execute";
import { recordCall } from "../pipeline/record";
import { respondError } from "../pipeline/respond";
import type { AttemptInfo } from "../usage/row";
import { identify, type Accepts, type Caller } from "./identify";

declare module "../env" {
  interface AppVariables {
    /** The call's record and scope, once its key is known. */
    call: CallScope;
  }
}

export interface Opening extends Accepts {
  /** What the row calls the action. */
  action: string;
  /** The model the path names (canonical `provider/model`, or the caller's string), or what the caller is held to, or "". */
  model: string | ((caller: Caller) => string);
  stream?: boolean;
  /** false: the call rides on one admitted before it (an upload's chunk) and needs no room of its own. */
  room?: boolean;
  /** Lease renewals in flight are waited for before the handler (calls that are not latency-bound). */
  verify?: boolean;
}

/** An error of a call that had used something first: its attempts, and (a resource create) its model and tokens. */
export class CallFailed extends Error {
  constructor(
    readonly error: unknown,
    readonly attempts: AttemptInfo[],
    readonly used?: Pick<CallEnd, "target" | "usage">,
  ) {
    super("call failed");
  }
}

export async function serveCall(c: Context<AppEnv>, opening: Opening, handle: (call: CallScope) => Promise<Response>): Promise<Response> {
  const caller = await identify(c, opening);
  const call = openScope(c, caller, opening);
  c.set("call", call);
  let outcome: CallEnd | undefined;
  let later: ((end: CallEnd) => void) | undefined;
  call.end = (end) => {
    if (outcome) return;
    outcome = end;
    later?.(end);
  };
  try {
    await admit(call, caller, opening);
    return await handle(call);
  } catch (e) {
    return failed(call, e);
  } finally {
    if (outcome) recordCall(call, outcome);
    else later = (end) => recordCall(call, end);
  }
}

/** The plain call record with the call's admission, before anything of the request but its path is read. */
function openScope(c: Context<AppEnv>, caller: Caller, o: Opening): CallScope {
  const { requestId, startedAt, config } = c.var;
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const key = caller.key;
  const scope: CallScope = {
    requestId, startedAt, keyId: key.id, teamId: key.team_id ?? null,
    action: o.action, requestedModel: typeof o.model === "string" ? o.model : o.model(caller), stream: o.stream ?? false,
    env: c.env, config, waitUntil,
    // A direct call has no virtual key: nothing to govern.
    gate: caller.kind === "direct" ? ungoverned(key) : new Gate(c.env, waitUntil, key),
    end: () => {},
  };
  if (config.traces) scope.traceparent = c.req.header("traceparent");
  return scope;
}

/** The key's status and a request slot in sight, before the body is read. */
async function admit(call: CallScope, caller: Caller, o: Opening): Promise<void> {
  assertKeyUsable(caller.key);
  await call.gate.check(o.room ?? true);
  if (o.verify) await call.gate.verified();
  call.teamId = call.gate.record.team_id ?? null;
}

/** Any failure of an attributed call: its outcome and the Gemini error (src/pipeline/respond.ts). */
function failed(call: CallScope, err: unknown): Response {
  if (err instanceof AllTargetsFailed) return respondError(call, err.error, err.attempts);
  if (err instanceof CallFailed) return respondError(call, err.error, err.attempts, err.used);
  return respondError(call, err, []);
}
