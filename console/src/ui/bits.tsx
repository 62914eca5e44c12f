/** Small pieces every page uses. */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { KeyRecord } from "../api";
import { fmtUsd } from "../format";

export type KeyStatus = "active" | "inactive" | "expired" | "revoked";

export function keyStatus(k: KeyRecord, now = Date.now()): KeyStatus {
  if (k.revoked_at) return "revoked";
  if (!k.active) return "inactive";
  if (k.expires_at && Date.parse(k.expires_at) <= now) return "expired";
  return "active";
}

export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={`badge badge-${kind}`}>{children}</span>;
}

export function StatusBadge({ status }: { status: KeyStatus }) {
  return <Badge kind={status === "active" ? "ok" : status === "inactive" ? "warn" : "bad"}>{status}</Badge>;
}

export function OutcomeBadge({ outcome, status }: { outcome: string; status: number }) {
  return (
    <Badge kind={outcome === "ok" ? "ok" : outcome === "aborted" ? "warn" : "bad"}>
      {status} {outcome}
    </Badge>
  );
}

/** Spend against a limit: a meter with the figures in words beside it. */
export function BudgetMeter({ spent, max }: { spent: number; max: number }) {
  const ratio = max > 0 ? spent / max : spent > 0 ? 1 : 0;
  const pct = Math.round(ratio * 1000) / 10;
  return (
    <span class="budget">
      <meter min={0} max={1} low={0.75} high={0.9} optimum={0} value={Math.min(ratio, 1)} aria-label={`${pct}% of budget used`} />
      <span>
        {fmtUsd(spent)} of {fmtUsd(max)} ({pct}%)
      </span>
    </span>
  );
}

/** A secret shown once: read-only, selectable, with a copy button that says when it worked. */
export function SecretField({ label, secret }: { label: string; secret: string }) {
  const [copied, setCopied] = useState<string>("");
  const copy = async (e: Event) => {
    const input = (e.currentTarget as HTMLElement).parentElement!.querySelector("input")!;
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      // No clipboard permission (or not a secure context): select it so Ctrl+C works.
      input.focus();
      input.select();
      setCopied(document.execCommand("copy") ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.");
    }
  };
  return (
    <div class="secret">
      <label>
        {label}
        <span class="secret-row">
          <input class="mono" readOnly value={secret} spellcheck={false} autocomplete="off" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" class="primary" onClick={copy}>
            Copy
          </button>
        </span>
      </label>
      <p class="muted" role="status">
        {copied}
      </p>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

/**
 * A choice of team: `none` first (empty value), then every team. `selected` marks where an uncontrolled select
 * starts (a controlled one's `value` wins).
 */
/** `none` names the empty choice; without it there is none (a team admin's key is always in its team). */
export function TeamOptions({ teams, none, selected }: { teams: { id: string; name: string }[]; none?: string; selected?: string | null }) {
  return (
    <>
      {none !== undefined && (
        <option value="" selected={!selected}>
          {none}
        </option>
      )}
      {teams.map((t) => (
        <option value={t.id} selected={t.id === selected}>
          {t.name}
        </option>
      ))}
    </>
  );
}

export const teamName = (teams: Map<string, { name: string }>, id: string | null | undefined) =>
  id ? (teams.get(id)?.name ?? id) : "—";

/** The options of a key filter: every key by name, and the filtered id itself when no key has it (a link's). */
export function KeyOptions({ keys, known, selected }: { keys: { id: string; name: string }[]; known: Map<string, unknown>; selected?: string }) {
  return (
    <>
      <option value="">All keys</option>
      {keys.map((k) => (
        <option value={k.id} selected={k.id === selected}>
          {k.name}
        </option>
      ))}
      {selected && !known.has(selected) && (
        <option value={selected} selected>
          {selected}
        </option>
      )}
    </>
  );
}

/** A page's heading (focused when the page opens, hence tabIndex -1) with the page's actions beside it. */
export function PageHead({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-head">
      <h1 tabIndex={-1}>{title}</h1>
      {children}
    </div>
  );
}
