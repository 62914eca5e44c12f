/**
 * What the gateway keeps of a call's content (a stored body, a trace's captured messages) is redacted beyond the
 * gateway's own secrets: a virtual key or admin token a caller pasted into a prompt, and a direct caller's own
 * provider keys (known only for its call).
 */
import { redactor, type Redactor } from "../gemini/redact";

/** The gateway's own credentials, as a caller may paste one into a prompt. */
const GATEWAY_CREDENTIAL = /sk-(?:bf|ew-admin)-[A-Za-z0-9]{16,}/g;

/** `redact` (the gateway's secrets), then any gateway credential, then `own` (a direct caller's keys). */
export function capturedRedactor(redact: Redactor, own: readonly string[] = []): Redactor {
  const mine = own.length ? redactor(own) : undefined;
  return (text) => {
    const clean = redact(text).replace(GATEWAY_CREDENTIAL, "[redacted]");
    return mine ? mine(clean) : clean;
  };
}
