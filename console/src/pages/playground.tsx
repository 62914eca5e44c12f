/**
 * Playground: one call through the gateway with a virtual key, as a client would make it. The streamed answer
 * shows as it arrives; the response headers say which target served; the call's usage row (found by its request
 * id, polled because rows reach the log a moment after the answer) says what it cost and every attempt.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type CallRecord, errorOf } from "../api";
import { useConsole } from "../context";
import { splitList } from "../format";
import { type Route } from "../router";
import { keysWithSecrets, onSecrets, secretFor } from "../session";
import { keyStatus, teamName } from "../ui/bits";
import { ErrorNote } from "../ui/dialog";
import { CallFacts } from "./logs";

interface Served {
  requestId: string | null;
  provider: string | null;
  model: string | null;
  attempts: string | null;
  status: number;
}

const PASTE = "";

/** Reads an SSE body event by event (any line ending), handing each `data:` payload on as parsed JSON. */
async function readSse(body: ReadableStream<BufferSource>, onEvent: (data: unknown) => void) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) onEvent(JSON.parse(data));
    }
    }
  } finally {
    // An error event (or a bad one) ends the read: let the connection go rather than leave it half read.
    reader.cancel().catch(() => {});
  }
}

type Chunk = { candidates?: { content?: { parts?: { text?: string; thought?: boolean }[] } }[]; error?: { message: string; code: number; status: string } };
const textOf = (c: Chunk) =>
  (c.candidates?.[0]?.content?.parts ?? [])
    .filter((p) => !p.thought)
    .map((p) => p.text ?? "")
    .join("");

export function Playground({ route }: { route: Route }) {
  const { admin, dir } = useConsole();
  const [, setTick] = useState(0);
  useEffect(() => onSecrets(() => setTick((t) => t + 1)), []);
  const withSecret = keysWithSecrets().filter((id) => dir.keyById.has(id));
  const [keyId, setKeyId] = useState(() => {
    const wanted = route.params.get("key_id");
    return wanted && secretFor(wanted) ? wanted : (withSecret[withSecret.length - 1] ?? PASTE);
  });
  const [pasted, setPasted] = useState("");
  const secret = keyId === PASTE ? pasted.trim() : (secretFor(keyId) ?? "");
  const [models, setModels] = useState<string[]>([]);
  const [answer, setAnswer] = useState("");
  const [served, setServed] = useState<Served | null>(null);
  const [error, setError] = useState<Error>();
  const [row, setRow] = useState<CallRecord | null>(null);
  const [rowNote, setRowNote] = useState("");
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  // The models this key may use (GET /genai/v1beta/models answers per key).
  useEffect(() => {
    if (!/^sk-bf-\w{20,}$/.test(secret)) return setModels([]);
    const ctrl = new AbortController();
    fetch("/genai/v1beta/models", { headers: { "x-goog-api-key": secret }, signal: ctrl.signal })
      .then((r) => (r.ok ? r.json() : { models: [] }))
      .then((b: { models?: { baseModelId: string; supportedGenerationMethods?: string[] }[] }) =>
        setModels((b.models ?? []).filter((m) => m.supportedGenerationMethods?.includes("generateContent")).map((m) => m.baseModelId)),
      )
      .catch(() => {});
    return () => ctrl.abort();
  }, [secret]);

  const pastedOwner = keyId === PASTE && pasted ? dir.keys.find((k) => pasted.trim().startsWith(k.prefix)) : undefined;

  async function findRow(requestId: string) {
    setRowNote("Waiting for the call's usage row…");
    // Rows are written after the answer (and may be batched): look a few times before giving up.
    for (let i = 0; i < 40; i++) {
      try {
        const { logs } = await admin.logs({ request_id: requestId, limit: 1 });
        if (logs[0]) {
          setRow(logs[0]);
          setRowNote("");
          return;
        }
      } catch (e) {
        setRowNote(`Could not read the usage row: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      await new Promise((r) => setTimeout(r, i < 10 ? 300 : 1000));
    }
    setRowNote(`The usage row of ${requestId} has not reached the log yet; find it on the Logs page later.`);
  }

  async function send(form: HTMLFormElement) {
    const f = new FormData(form);
    const model = String(f.get("model") ?? "").trim();
    const prompt = String(f.get("prompt") ?? "");
    const stream = f.get("stream") === "on";
    const fallbacks = splitList(String(f.get("fallbacks") ?? ""));
    setAnswer("");
    setServed(null);
    setError(undefined);
    setRow(null);
    setRowNote("");
    setBusy(true);
    const ctrl = new AbortController();
    abort.current = ctrl;
    let requestId: string | null = null;
    try {
      const path = model.split("/").map(encodeURIComponent).join("/");
      const res = await fetch(`/genai/v1beta/models/${path}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`, {
        method: "POST",
        headers: { "x-goog-api-key": secret, "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: prompt }] }], ...(fallbacks.length ? { fallbacks } : {}) }),
        signal: ctrl.signal,
      });
      requestId = res.headers.get("x-edgeway-request-id");
      setServed({
        requestId,
        provider: res.headers.get("x-edgeway-provider"),
        model: res.headers.get("x-edgeway-model"),
        attempts: res.headers.get("x-edgeway-attempts"),
        status: res.status,
      });
      if (!res.ok) throw await errorOf(res, "the call");
      if (stream && res.body) {
        await readSse(res.body, (data) => {
          const c = data as Chunk;
          if (c.error) throw new ApiError(c.error.message, c.error.code, c.error.status);
          const t = textOf(c);
          if (t) setAnswer((a) => a + t);
        });
      } else {
        setAnswer(textOf((await res.json()) as Chunk));
      }
    } catch (e) {
      setError(ctrl.signal.aborted ? new Error("Stopped: the gateway logs the call as aborted.") : e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
      abort.current = null;
    }
    if (requestId) await findRow(requestId);
  }

  const owner = keyId !== PASTE ? dir.keyById.get(keyId) : pastedOwner;
  return (
    <>
      <h1 tabIndex={-1}>Playground</h1>
      <p class="muted">
        One call through the gateway with a virtual key, exactly as a client would make it. Name fallbacks to watch them work: a target that fails
        (or has no provider key here) passes the call to the next.
      </p>
      <form
        class="form playground"
        onSubmit={(e) => {
          e.preventDefault();
          void send(e.currentTarget);
        }}
      >
        <label>
          Key
          <select value={keyId} onChange={(e) => setKeyId(e.currentTarget.value)}>
            {withSecret.map((id) => {
              const k = dir.keyById.get(id)!;
              return (
                <option value={id}>
                  {k.name} ({keyStatus(k)}, secret from this session)
                </option>
              );
            })}
            <option value={PASTE}>Paste a secret…</option>
          </select>
        </label>
        {keyId === PASTE && (
          <div class="field">
            <label>
              Secret
              <input
                type="password"
                value={pasted}
                onInput={(e) => setPasted(e.currentTarget.value)}
                placeholder="sk-bf-…"
                autocomplete="off"
                spellcheck={false}
                aria-describedby="secret-help"
              />
            </label>
            <span id="secret-help" class="help">
              {pastedOwner ? `Matches key “${pastedOwner.name}” (${pastedOwner.prefix}…).` : "Kept in this page only, never stored."}
            </span>
          </div>
        )}
        <div class="field">
          <label>
            Model <span class="req">(required)</span>
            <input name="model" required list="pg-models" defaultValue="mock/echo" spellcheck={false} autocomplete="off" aria-describedby="model-help" />
            <datalist id="pg-models">
              {models.map((m) => (
                <option value={m} />
              ))}
            </datalist>
          </label>
          <span id="model-help" class="help">
            <code>provider/model</code> or a bare Gemini name.{models.length ? ` This key may use ${models.length} listed model(s).` : ""}
          </span>
        </div>
        <div class="field">
          <label>
            Fallbacks
            <input name="fallbacks" placeholder="e.g. mock/echo" spellcheck={false} autocomplete="off" aria-describedby="fb-help" />
          </label>
          <span id="fb-help" class="help">
            Comma-separated <code>provider/model</code>, tried in order if the model fails.
          </span>
        </div>
        <label class="wide">
          Prompt <span class="req">(required)</span>
          <textarea name="prompt" rows={3} required defaultValue="Say hello to the operators." />
        </label>
        <label class="check">
          <input name="stream" type="checkbox" defaultChecked /> Stream the answer
        </label>
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy || !secret}>
            Send
          </button>
          {busy && (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          )}
          {!secret && <span class="muted">Pick a key created or rotated in this tab, or paste a secret.</span>}
        </div>
      </form>

      <section aria-labelledby="answer-h" class="answer">
        <h2 id="answer-h">Answer</h2>
        {served && (
          <dl class="facts served" aria-label="Served by">
            <dt>Status</dt>
            <dd>{served.status}</dd>
            <dt>x-edgeway-provider</dt>
            <dd class="mono">{served.provider ?? "—"}</dd>
            <dt>x-edgeway-model</dt>
            <dd class="mono">{served.model ?? "—"}</dd>
            <dt>x-edgeway-attempts</dt>
            <dd class="mono">{served.attempts ?? "—"}</dd>
            <dt>x-edgeway-request-id</dt>
            <dd class="mono">{served.requestId ?? "—"}</dd>
          </dl>
        )}
        <output class="answer-text" aria-live="polite" aria-busy={busy}>
          {answer || (busy ? "…" : "")}
        </output>
        {error && <ErrorNote error={error} />}
      </section>
      {(row || rowNote) && (
        <section aria-labelledby="row-h">
          <h2 id="row-h">What the call cost</h2>
          {rowNote && (
            <p class="muted" role="status">
              {rowNote}
            </p>
          )}
          {row && <CallFacts row={row} keyName={dir.keyById.get(row.key_id)?.name ?? row.key_id} team={teamName(dir.teamById, row.team_id)} />}
        </section>
      )}
      {owner && keyStatus(owner) !== "active" && (
        <p class="error" role="alert">
          Key “{owner.name}” is {keyStatus(owner)}: the gateway will refuse the call.
        </p>
      )}
    </>
  );
}
