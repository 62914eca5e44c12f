/**
 * A modal dialog on the native <dialog>: the browser keeps focus inside and the page behind inert; Escape closes;
 * focus goes back to what opened it.
 */
import type { ComponentChildren } from "preact";
import { useId, useLayoutEffect, useRef } from "preact/hooks";

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; describedBy?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  const gone = useRef(false);
  // Layout effect: opened before paint, and focus is back on the opener the moment the dialog goes.
  useLayoutEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const d = ref.current!;
    d.showModal();
    return () => {
      // Closed because it is going away: its `close` event (dispatched later) must not close what replaced it.
      gone.current = true;
      if (d.open) d.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={props.describedBy}
      onCancel={(e) => {
        e.preventDefault();
        onClose.current();
      }}
      // The browser may close it by itself (a second Escape): the state follows.
      onClose={() => gone.current || onClose.current()}
    >
      <div class="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={() => onClose.current()}>
          ×
        </button>
      </div>
      {props.children}
    </dialog>
  );
}

/** Asks before something that cannot be undone; the action's own error (the API's message) shows inside. */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  action: string;
  danger?: boolean;
  busy?: boolean;
  error?: Error;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const bodyId = useId();
  return (
    <Dialog title={props.title} onClose={props.onClose} describedBy={bodyId}>
      <div id={bodyId}>{props.children}</div>
      {props.error && <ErrorNote error={props.error} />}
      <div class="actions">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" class={props.danger ? "danger" : "primary"} disabled={props.busy} onClick={props.onConfirm}>
          {props.action}
        </button>
      </div>
    </Dialog>
  );
}

/** An API refusal in words; `retry` (a read that failed) offers to try again, e.g. when the gateway was down. */
export function ErrorNote({ error, prefix, retry }: { error: Error; prefix?: string; retry?: () => void }) {
  const code = (error as { code?: number }).code;
  return (
    <p class="error" role="alert">
      {prefix ? `${prefix}: ` : ""}
      <span class="message">{error.message}</span>
      {code ? <span class="muted"> (HTTP {code})</span> : null}
      {retry && (
        <button type="button" class="retry" onClick={retry}>
          Try again
        </button>
      )}
    </p>
  );
}
