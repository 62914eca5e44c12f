/**
 * Whether an upstream refusal means the resource itself is gone (expired, deleted elsewhere), so its row is marked
 * gone and left out of lists. Gemini answers 404 for a missing batch or operation, but 403 `PERMISSION_DENIED` for a
 * missing file or cache ("You do not have permission to access the File … or it may not exist", "CachedContent not
 * found (or permission denied)"). A 403 about the credential (a key invalid, expired, blocked or suspended, the API
 * disabled for its project) always carries an `ErrorInfo` reason (`API_KEY_INVALID`, `SERVICE_DISABLED`, …) and
 * says nothing of the resource: it marks nothing gone, and fails the call as it is.
 */
import { GatewayError } from "../gemini/errors";

/** Errors thrown for a 403 that is about the resource, not the credential (set where the upstream's text is read). */
const RESOURCE_403 = new WeakSet<GatewayError>();

/** The upstream's words when a 403 is about the resource: "not found", "may not exist", "does not exist". */
const MISSING = /not\s+found|may\s+not\s+exist|does\s+not\s+exist|no\s+longer\s+exists/i;

/** Notes, from the upstream's raw error text, whether the 403 `e` is about the resource. */
export function noteRefusal(e: GatewayError, raw: string): GatewayError {
  if (e.code !== 403) return e;
  let body: { error?: { message?: unknown; details?: unknown } } | undefined;
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    return e;
  }
  const error = body?.error;
  const details = Array.isArray(error?.details) ? (error.details as { reason?: unknown }[]) : [];
  // Any machine-readable reason is Google's word on the request or credential, never "this resource is missing".
  if (details.some((d) => d && typeof d === "object" && typeof d.reason === "string")) return e;
  if (typeof error?.message === "string" && MISSING.test(error.message)) RESOURCE_403.add(e);
  return e;
}

/** Whether `e` says the resource is no longer upstream: a 404, or a 403 about the resource (not the credential). */
export const vanished = (e: unknown): boolean =>
  e instanceof GatewayError && (e.code === 404 || (e.code === 403 && RESOURCE_403.has(e)));
