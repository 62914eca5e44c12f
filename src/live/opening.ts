/**
 * A session's setup message, checked before the session holds anything or goes upstream: its model (an ephemeral
 * token's locked fields applied first), a provider that serves Live, a model the key may use and, when the key or
 * its team has a budget, one with a price; the files and caches it names must be the key's.
 */
import { isTargetAllowed } from "../auth/authenticate";
import { GatewayError } from "../gemini/errors";
import type { Gate } from "../governance/gate";
import { unpricedRefusal } from "../governance/worst-case";
import { inspectBody } from "../pipeline/body";
import type { CallScope } from "../pipeline/context";
import { targetString, type Target } from "../lib/target";
import type { Provider } from "../providers/types";
import { assertReferencesOwned } from "../resources/references";
import type { Price } from "../usage/prices";
import { frameText, lockSetup, parseSetupMessage, setupModel, type Setup } from "./setup";
import { liveRefusal, type PresentedToken } from "./tokens";

export interface Opening {
  /** The client's setup message, its other fields as sent. */
  message: Record<string, unknown>;
  /** Its setup, with the token's locked fields applied. */
  setup: Setup;
  target: Target;
  provider: Provider;
  price: Price | undefined;
  /** The setup names files or caches (the key's own): the session goes under the credential holding them. */
  usesResources: boolean;
}

export async function checkSetup(scope: CallScope, gate: Gate, token: PresentedToken | undefined, first: string | ArrayBuffer): Promise<Opening> {
  const { message, setup: sent } = parseSetupMessage(frameText(first));
  const setup = lockSetup(sent, token?.record.lock);
  const target = setupModel(setup);
  // The files and caches the setup names (a system instruction's fileData): a bad URI or nesting is a 400 now.
  const refs = inspectBody({ ...message, setup });
  const name = targetString(target);
  scope.requestedModel = name;
  const provider = scope.config.providers.get(target.provider);
  if (!provider?.live) throw new GatewayError(400, liveRefusal(name));
  if (!isTargetAllowed(gate.record, target)) throw new GatewayError(403, `model "${name}" is not allowed for key "${gate.record.name}"`);
  const price = scope.config.price(target.provider, target.model);
  if (gate.budgeted && !price) throw unpricedRefusal(name);
  const usesResources = await assertReferencesOwned(scope.env, gate.record, refs);
  return { message, setup, target, provider, price, usesResources };
}
