/**
 * Alerts: the recent webhook (or Slack) deliveries, newest first (GET /admin/alerts): what was raised, about whom,
 * and whether the receiver took it (delivered), is being retried (pending, with the next try) or was given up
 * (failed), with the receiver's last answer. An admin may send what is due now (POST /admin/alerts/deliver).
 */
import { useState } from "preact/hooks";
import type { AlertDelivery } from "../api";
import { useConsole } from "../context";
import { fmtTime } from "../format";
import { useLoad } from "../load";
import { Badge, PageHead } from "../ui/bits";
import { ErrorNote } from "../ui/dialog";
import { ListBody } from "../ui/filters";

const STATE_KIND: Record<AlertDelivery["state"], string> = { delivered: "ok", pending: "warn", failed: "bad" };

export function Alerts() {
  const { admin, may } = useConsole();
  const list = useLoad(() => admin.alerts(), []);
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<string>();
  const [sendError, setSendError] = useState<Error>();
  const deliver = async () => {
    setSending(true);
    setSendError(undefined);
    try {
      const r = await admin.deliverAlerts();
      setSent(`Delivered ${r.delivered}, retrying ${r.retrying}, failed ${r.failed}.`);
      list.reload();
    } catch (e) {
      setSendError(e as Error);
    } finally {
      setSending(false);
    }
  };
  return (
    <>
      <PageHead title="Alerts">
        <div class="row-actions">
          <button type="button" onClick={() => list.reload()}>
            Refresh
          </button>
          {may.writeTeams && (
            <button type="button" onClick={deliver} disabled={sending}>
              {sending ? "Sending…" : "Deliver due now"}
            </button>
          )}
        </div>
      </PageHead>
      <p class="muted">
        Budget thresholds, expiring keys and cooled-down credentials, as sent to <code>ALERT_WEBHOOK_URL</code>. A delivery the receiver
        did not take is retried with backoff for up to 3 days, under the same id.
      </p>
      {sent && (
        <p class="muted" role="status">
          {sent}
        </p>
      )}
      {sendError && <ErrorNote error={sendError} prefix="Could not deliver" />}
      <ListBody load={list} what="alert deliveries" rows={list.data?.alerts} empty="No alert has been raised." render={(rows) => (
          <table class="cards alerts">
            <thead>
              <tr>
                <th scope="col">Raised</th>
                <th scope="col">Event</th>
                <th scope="col">About</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Receiver's last answer</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr>
                  <td data-label="Raised">{fmtTime(a.created_at)}</td>
                  <td data-label="Event">
                    <span class="mono">{a.type}</span>
                    <div class="muted small">{summary(a)}</div>
                  </td>
                  <td data-label="About">
                    {a.event.subject.name} <span class="muted small">{a.event.subject.kind}</span>
                  </td>
                  <td data-label="State">
                    <Badge kind={STATE_KIND[a.state] ?? "warn"}>{a.state}</Badge>
                    <div class="muted small">
                      {a.state === "delivered" && a.delivered_at ? fmtTime(a.delivered_at) : a.state === "pending" && a.next_attempt_at ? `next try ${fmtTime(a.next_attempt_at)}` : ""}
                    </div>
                  </td>
                  <td data-label="Attempts" class="num">
                    {a.attempts}
                  </td>
                  <td data-label="Receiver's last answer">
                    {a.last_status ? `HTTP ${a.last_status}` : a.attempts ? "no answer" : "not sent yet"}
                    {a.last_error && <div class="muted small">{a.last_error}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </>
  );
}

/** The event's figures in a few words. */
function summary(a: AlertDelivery): string {
  const d = a.event.data as Record<string, string | number | undefined>;
  switch (a.type) {
    case "budget.threshold":
      return `${d.threshold_percent}% of the ${d.period ?? "lifetime"} budget: $${d.spent_usd} of $${d.budget_usd}`;
    case "key.expiring":
      return `expires ${fmtTime(String(d.expires_at))}`;
    case "credential.cooled":
      return `${d.provider}/${d.credential} ${d.reason}${d.model ? ` (${d.model})` : ""} until ${fmtTime(String(d.until))}`;
    default:
      return "";
  }
}
