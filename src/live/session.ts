/**
 * One Live API session: the client's WebSocket (the gateway's end of a WebSocketPair) relayed to the provider's,
 * frame by frame in both directions, as they come (text and binary; nothing is held back once the session is open).
 *
 *   setup message → model, token lock, allow-list, price, files and caches it names → admission (request slot + a
 *   first slice of tokens and dollars) → upstream socket with the provider key → relay, checking the files and
 *   caches each later frame names, charging each `usageMetadata` and reserving the next slice ahead of need →
 *   close (either peer, or the gateway: a limit, a refusal, a revoked key) → one usage row.
 *
 * Whoever closes first, the other side is closed with a meaningful code and reason (src/live/close.ts), and the row
 * says which side it was. The row is written once every admission step that was under way has settled, so what
 * the session holds is always given back.
 */
import { isTargetAllowed } from "../auth/authenticate";
import { GatewayError, toGatewayError } from "../gemini/errors";
import { redactor } from "../gemini/redact";
import { clock } from "../governance/clock";
import type { Gate } from "../governance/gate";
import type { CallScope } from "../pipeline/context";
import { inspectBody, type BodyReferences } from "../pipeline/body";
import { printable, targetString, type Target } from "../lib/target";
import { faultOf } from "../providers/credentials/fault";
import { servesModel } from "../providers/credentials/pool";
import type { Credential, Provider } from "../providers/types";
import { assertReferencesOwned } from "../resources/references";
import { unpricedRefusal } from "../governance/worst-case";
import { retryAfterMs } from "../pipeline/retry-policy";
import { describeError } from "../lib/describe-error";
import type { Price } from "../usage/prices";
import { tokensOf, type AttemptInfo, type ClosedBy } from "../usage/row";
import { ABNORMAL, clientEnd, closeReason, gatewayCode, gatewayReason, NORMAL, passOn, upstreamEnd } from "./close";
import { sealHandle, unseal, verifyHandle } from "./resumption";
import { frameText, isObject, lockSetup, mayName, names, parseSetupMessage, setupModel, upstreamSetup } from "./setup";
import { TOKEN_HOLD_MS, tokenObject } from "./token-store";
import { holdToken, liveRefusal, type PresentedToken } from "./tokens";
import { liveBillable, liveCostUsd, LiveUsage, modalityTokens, rowUsage, type ServerMessageUsage } from "./usage";

/** How long a client may take to send its setup message. */
export const SETUP_TIMEOUT_MS = 10_000;
/** How often an open session re-checks its key (revoked, expired, rotated) and its deadline. */
export const CHECK_INTERVAL_MS = 1_000;
/** Tokens reserved ahead of what the session has used (and their cost at the model's dearer price). */
export const SLICE_TOKENS = 8_192;
/** What a client may send before the upstream is open, or while a frame's files are checked (later frames wait). */
const MAX_QUEUED_FRAMES = 256;
const MAX_QUEUED_BYTES = 1 << 20;

type Frame = string | ArrayBuffer;

/**
 * The fields a frame is parsed and checked for: a second setup, and those through which a message uses a file or
 * cache (both spellings Gemini reads).
 */
const CHECKED_FIELDS = ["setup", "fileUri", "file_uri", "cachedContent", "cached_content"];

export interface SessionInit {
  scope: CallScope;
  /** The scope's gate: a Live session is always governed (grown as it spends, re-checked while open). */
  gate: Gate;
  /** `v1alpha`, `v1beta` or `v1`, as the client's path said. */
  version: string;
  /** The ephemeral token the session was opened with, if any. */
  token?: PresentedToken;
}

/** Accepts the client's socket and answers the upgrade; the session runs on the socket's events. */
export function openSession(init: SessionInit): Response {
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  server.binaryType = "arraybuffer";
  new LiveSession(init, server).start();
  return new Response(null, { status: 101, webSocket: client, headers: { "x-edgeway-request-id": init.scope.requestId } });
}

interface Ending {
  by: ClosedBy;
  /** The close code of the session as the client saw (or sent) it. */
  code: number;
  reason: string;
  error?: GatewayError;
}

class LiveSession {
  private phase: "setup" | "connecting" | "open" | "ended" = "setup";
  private upstream: WebSocket | undefined;
  /** The provider credential the upstream socket was opened with. */
  private credential: Credential | undefined;
  /** The provider's credential holding files and caches (src/providers/types.ts `resources`), if it has one. */
  private resources: Credential | undefined;
  private target: Target | undefined;
  private price: Price | undefined;
  private readonly usage = new LiveUsage();
  private readonly attempts: AttemptInfo[] = [];
  private ttfbMs: number | null = null;
  /** Frames the client sent while the upstream was being opened, or while a frame ahead of them is checked. */
  private queue: Frame[] = [];
  private queuedBytes = 0;
  /** A frame's files and caches being looked up: later frames wait in the queue, so none overtakes it. */
  private checking: Promise<void> | undefined;
  /** What the session holds in the key's and team's leases, and the slice it reserves ahead. */
  private readonly reserved = { tokens: 0, usd: 0 };
  private slice = { tokens: SLICE_TOKENS, usd: 0 };
  private beginning: Promise<void> | undefined;
  private growing: Promise<void> = Promise.resolve();
  /** Frames to the client waiting behind one being rewritten (a resumption handle being sealed). */
  private outbound: Promise<void> | undefined;
  private markedResumable = false;
  /** When the session last took or renewed its hold on its token's live slot (undefined: it holds none). */
  private tokenHeldAt: number | undefined;
  private renewingToken = false;
  private readonly deadline: { at: number; error: () => GatewayError };
  private setupTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private checker: ReturnType<typeof setInterval> | undefined;
  private done!: () => void;

  constructor(
    private readonly init: SessionInit,
    private readonly client: WebSocket,
  ) {
    const { config } = init.scope;
    const now = clock.now();
    const max = now + config.liveMaxSessionMs;
    const tokenEnd = init.token?.record.expire_at ?? Infinity;
    this.deadline = tokenEnd < max
      ? { at: tokenEnd, error: () => new GatewayError(401, "ephemeral token has expired") }
      : { at: max, error: () => new GatewayError(408, `session reached LIVE_MAX_SESSION_SECONDS (${config.liveMaxSessionMs / 1000} s)`) };
  }

  private get scope(): CallScope {
    return this.init.scope;
  }

  private get gate(): Gate {
    return this.init.gate;
  }

  start(): void {
    this.scope.waitUntil(new Promise<void>((resolve) => (this.done = resolve)));
    this.client.addEventListener("message", (e) => this.fromClient(e.data as Frame));
    this.client.addEventListener("close", (e) => this.peerClosed("client", e.code, e.reason));
    this.client.addEventListener("error", () => this.peerClosed("client", ABNORMAL, "client connection error"));
    this.setupTimer = setTimeout(() => this.fail(new GatewayError(408, `no setup message within ${SETUP_TIMEOUT_MS / 1000} s`)), SETUP_TIMEOUT_MS);
    this.deadlineTimer = setTimeout(() => this.fail(this.deadline.error()), Math.max(0, this.deadline.at - clock.now()));
  }

  // ---- client → upstream

  private fromClient(data: Frame): void {
    switch (this.phase) {
      case "setup":
        this.phase = "connecting";
        clearTimeout(this.setupTimer);
        this.beginning = this.begin(data).catch((e) => this.fail(e));
        return;
      case "connecting":
        this.hold(data);
        return;
      case "open":
        if (this.checking) this.hold(data);
        else this.forward(data);
        return;
    }
  }

  private hold(data: Frame): void {
    this.queuedBytes += typeof data === "string" ? data.length : data.byteLength;
    if (this.queue.push(data) > MAX_QUEUED_FRAMES || this.queuedBytes > MAX_QUEUED_BYTES) {
      this.fail(new GatewayError(413, this.phase === "open"
        ? "too much sent while the files of an earlier message were checked"
        : "too much sent before the session was set up: wait for setupComplete"));
    }
  }

  /** The frames held, in order, until one of them starts a check (the rest wait again). */
  private drain(): void {
    while (this.queue.length && this.phase === "open" && !this.checking) {
      const f = this.queue.shift()!;
      this.queuedBytes -= typeof f === "string" ? f.length : f.byteLength;
      this.forward(f);
    }
  }

  private forward(data: Frame): void {
    const text = typeof data === "string" ? data : frameText(data);
    if (!mayName(text, CHECKED_FIELDS)) {
      this.send("upstream", data);
      return;
    }
    try {
      // A byte-order mark is dropped (a parser upstream may skip it); anything else JSON.parse refuses, a more
      // lenient parser might still read a field from, so it is not passed on.
      const msg = parseObject(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
      if (!msg) throw new GatewayError(400, "a Live message that names a setup, a file or a cache must be a JSON object");
      // A second setup would change the model (or a token's locked fields) past every check made at the first.
      if (Object.hasOwn(msg, "setup")) throw new GatewayError(400, "a Live session takes one setup message, as its first");
      const refs = inspectBody(msg);
      // What goes upstream is what was checked, re-serialized: no duplicate field or escape reads differently there.
      const out = JSON.stringify(msg);
      const frame = typeof data === "string" ? out : (new TextEncoder().encode(out).buffer as ArrayBuffer);
      if (!refs.fileUris.length && !refs.caches.length) return this.send("upstream", frame);
      this.checking = this.assertUsable(refs, this.credential!).then(() => {
        if (this.ended) return;
        this.checking = undefined;
        this.send("upstream", frame);
        this.drain();
      });
      this.checking.catch((e) => this.fail(e));
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * The files and caches a message names are the key's (else a 404, as on the REST routes), and the session runs
   * under the credential that holds them: one in another project would be refused by the upstream.
   */
  private async assertUsable(refs: BodyReferences, credential: Credential): Promise<void> {
    if (await assertReferencesOwned(this.scope.env, this.gate.record, refs)) this.assertHolds(credential);
  }

  private assertHolds(credential: Credential): void {
    if (!this.resources || credential === this.resources) return;
    throw new GatewayError(400, `the files and caches this session names are held by credential "${printable(this.resources.label)}", `
      + `not the session's ("${printable(credential.label)}"): name one in the setup message so the session opens under it`);
  }

  /** The setup message: everything a session is checked for, then the upstream socket. */
  private async begin(first: Frame): Promise<void> {
    const { scope, gate } = this;
    const { message, setup } = parseSetupMessage(frameText(first));
    const token = this.init.token;
    let effective = lockSetup(setup, token?.record.lock);
    const target = setupModel(effective);
    // The files and caches the setup names (a system instruction's fileData): a bad URI or nesting is a 400 now.
    const refs = inspectBody({ ...message, setup: effective });
    const name = targetString(target);
    scope.requestedModel = name;
    const provider = scope.config.providers.get(target.provider);
    if (!provider?.live) throw new GatewayError(400, liveRefusal(name));
    if (!isTargetAllowed(gate.record, target)) throw new GatewayError(403, `model "${name}" is not allowed for key "${gate.record.name}"`);
    this.price = scope.config.price(target.provider, target.model);
    if (gate.budgeted && !this.price) throw unpricedRefusal(name);
    const usesResources = await assertReferencesOwned(scope.env, gate.record, refs);
    this.resources = provider.resources;

    // A resumption goes upstream under the credential that issued its handle, which must be sealed for this key;
    // it does not use up a token, but holds one of its live slots as a new session does.
    const sealed = effective.sessionResumption?.handle;
    const resumed = sealed !== undefined && sealed !== null && sealed !== "";
    let credential: Credential | undefined;
    if (resumed) {
      const parts = unseal(sealed);
      credential = provider.pool.credentials.find((c) => c.label === parts.label)
        ?? (provider.resources?.label === parts.label ? provider.resources : undefined);
      if (!credential) throw new GatewayError(403, "session resumption handle was not issued to this key");
      await verifyHandle(handleSecret(credential), scope.keyId, parts);
      effective = { ...effective, sessionResumption: { ...effective.sessionResumption, handle: parts.handle } };
    } else if (usesResources && provider.resources) {
      // Files and caches live in the project of the key that made them: the session goes where they are.
      credential = provider.resources;
      if (!servesModel(credential, target.model)) {
        throw new GatewayError(503, `the files and caches this session names are held by credential "${printable(credential.label)}", which does not serve "${name}"`);
      }
    } else {
      credential = provider.pool.pick(target.model, new Set());
      if (!credential) throw new GatewayError(503, `no ${target.provider} credential serves "${name}" on this gateway`);
    }
    // A resumed session stays under the credential it began with.
    if (usesResources) this.assertHolds(credential);
    // The token's Durable Object judges every session of the token, resumed ones too, before any upstream socket.
    if (token) {
      await holdToken(scope.env, token, scope.requestId, resumed, clock.now());
      this.tokenHeldAt = clock.now();
    }
    if (this.ended) return;

    const tpm = gate.record.rate_limit?.tpm;
    const tokens = tpm ? Math.max(1, Math.min(SLICE_TOKENS, Math.floor(tpm / 4))) : SLICE_TOKENS;
    const p = this.price;
    this.slice = { tokens, usd: p ? (tokens * Math.max(p.input, p.output, p.input_audio ?? 0, p.output_audio ?? 0)) / 1e6 : 0 };
    await gate.admit(this.slice);
    this.reserved.tokens = this.slice.tokens;
    this.reserved.usd = this.slice.usd;
    if (this.ended) return;

    const up = await this.connect(provider, credential, target);
    if (this.ended) {
      up.accept();
      up.close(NORMAL, "the client went away");
      return;
    }
    this.target = target;
    this.credential = credential;
    this.upstream = up;
    up.addEventListener("message", (e) => this.fromUpstream(e.data as Frame));
    up.addEventListener("close", (e) => this.peerClosed("upstream", e.code, e.reason));
    up.addEventListener("error", () => this.peerClosed("upstream", ABNORMAL, "upstream connection error"));
    // Accepted once it is listened to: no frame can arrive unheard.
    up.accept();
    up.binaryType = "arraybuffer";
    this.send("upstream", JSON.stringify({ ...message, setup: upstreamSetup(effective, target) }));
    this.phase = "open";
    this.drain();
    this.checker = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
  }

  /**
   * The upstream socket (not yet accepted), opened with the provider's credential (never the caller's), or a 502
   * saying why not. A credential the upstream refused or throttled cools down, as after any call.
   */
  private async connect(provider: Provider, credential: Credential, target: Target): Promise<WebSocket> {
    const started = Date.now();
    const pooled = provider.pool.holds(credential);
    const attempt = (status: number, reason: string) =>
      this.attempts.push({
        target: targetString(target), ...(credential.label ? { credential: credential.label } : {}), status, reason, latency_ms: Date.now() - started,
      });
    let res: Response;
    try {
      res = await fetch(provider.live!(this.init.version, credential), { signal: AbortSignal.timeout(this.scope.config.retry.timeoutMs) });
    } catch (e) {
      attempt(502, "unreachable");
      throw new GatewayError(502, `${provider.name}: could not open the Live session upstream (${redactor(credential.secrets)(describeError(e))})`);
    }
    if (res.status !== 101 || !res.webSocket) {
      const text = (await res.text().catch(() => "")).slice(0, 4000);
      attempt(res.status, `upstream ${res.status}`);
      // The attempt loop's rule (src/providers/credentials/fault.ts): only a refusal of the credential benches it for
      // everyone, a 429 only for this model. A credential outside the pool (the resources key) has no health here.
      if (pooled) provider.pool.cool(credential, faultOf(res.status, text), target.model, retryAfterMs(res.headers, Date.now()));
      const said = provider.error(res.status, text, credential.secrets).message;
      throw new GatewayError(502, `${provider.name} refused the Live session: HTTP ${res.status}: ${said}`);
    }
    if (pooled) provider.pool.recovered(credential, target.model);
    attempt(101, "ok");
    return res.webSocket;
  }

  // ---- upstream → client

  private fromUpstream(data: Frame): void {
    if (this.phase === "ended") return;
    this.ttfbMs ??= Date.now() - this.scope.startedAt;
    const text = typeof data === "string" ? data : frameText(data);
    let msg: Record<string, unknown> | undefined;
    if (names(text, "sessionResumptionUpdate")) {
      msg = parseObject(text);
      const update = msg?.sessionResumptionUpdate;
      if (isObject(update) && typeof update.newHandle === "string" && update.newHandle) {
        const raw = update.newHandle;
        this.toClient(
          sealHandle(handleSecret(this.credential!), this.scope.keyId, this.credential!.label, raw).then((sealed) => {
            const out = JSON.stringify({ ...msg, sessionResumptionUpdate: { ...update, newHandle: sealed } });
            return typeof data === "string" ? out : (new TextEncoder().encode(out).buffer as ArrayBuffer);
          }),
        );
        this.noteResumable();
      } else this.toClient(data);
    } else this.toClient(data);
    if (names(text, "usageMetadata") || names(text, "turnComplete") || names(text, "interrupted")) {
      msg ??= parseObject(text);
      if (msg && this.usage.observe(msg as ServerMessageUsage)) this.charge();
    }
  }

  /** Sends in order: straight away, unless a frame ahead of this one is still being rewritten. */
  private toClient(data: Frame | Promise<Frame>): void {
    if (!this.outbound && !(data instanceof Promise)) {
      this.send("client", data);
      return;
    }
    const next: Promise<void> = (this.outbound ?? Promise.resolve()).then(async () => {
      const d = await data;
      if (this.phase !== "ended") this.send("client", d);
    });
    this.outbound = next;
    next.catch((e) => this.fail(e)).finally(() => {
      if (this.outbound === next) this.outbound = undefined;
    });
  }

  private noteResumable(): void {
    const token = this.init.token;
    if (!token || this.markedResumable) return;
    this.markedResumable = true;
    this.scope.waitUntil(tokenObject(this.scope.env, token.hash).markResumable().catch((e) => console.error("ephemeral token: could not mark it resumable", describeError(e))));
  }

  // ---- governance during the session

  /** Charges what the session has used, and reserves the next slice before it is needed (or ends the session). */
  private charge(): void {
    this.growing = this.growing
      .then(async () => {
        if (this.ended) return;
        const spent = this.spent();
        const tokens = Math.max(0, spent.tokens + this.slice.tokens - this.reserved.tokens);
        const usd = Math.max(0, spent.usd + this.slice.usd - this.reserved.usd);
        // Grow by whole slices, and only once half the current one is gone.
        if (tokens <= this.slice.tokens / 2 && usd <= this.slice.usd / 2) return;
        await this.gate.grow({ tokens, usd });
        this.reserved.tokens += tokens;
        this.reserved.usd += usd;
      })
      .catch((e) => this.fail(e));
  }

  private spent(): { tokens: number; usd: number } {
    const total = this.usage.total();
    const t = tokensOf(rowUsage(total));
    return { tokens: t.input + t.output, usd: liveCostUsd(this.price, total) };
  }

  /** The key still usable (its leases renewed when stale: a revocation or its team's deletion lands within a lease's life). */
  private async check(): Promise<void> {
    if (this.ended) return;
    try {
      if (clock.now() >= this.deadline.at) throw this.deadline.error();
      this.renewToken();
      // A Governor out of reach for now leaves the last answer standing: the session is not ended for it.
      await this.gate.recheck();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Renews the session's hold on its token's slot every third of its life. A hold found lapsed (its slot may now be
   * another session's) ends the session; a token object out of reach leaves it standing until the next try.
   */
  private renewToken(): void {
    const token = this.init.token;
    const now = clock.now();
    if (!token || this.tokenHeldAt === undefined || this.renewingToken || now - this.tokenHeldAt < TOKEN_HOLD_MS / 3) return;
    this.renewingToken = true;
    tokenObject(this.scope.env, token.hash).renew(now, this.scope.requestId)
      .then((held) => {
        if (held) this.tokenHeldAt = now;
        else this.fail(new GatewayError(409, "the session's hold on its ephemeral token lapsed"));
      }, (e) => console.error("ephemeral token: could not renew the session's hold", describeError(e)))
      .finally(() => (this.renewingToken = false));
  }

  // ---- the end

  private get ended(): boolean {
    return this.phase === "ended";
  }

  private fail(e: unknown): void {
    if (this.ended) return;
    const error = toGatewayError(e);
    const code = gatewayCode(error);
    const reason = gatewayReason(error);
    this.close(this.client, code, reason);
    if (this.upstream) this.close(this.upstream, NORMAL, "session ended by the gateway");
    this.finish({ by: "gateway", code, reason, error });
  }

  private peerClosed(by: "client" | "upstream", code: number, reason: string): void {
    if (this.ended) return;
    if (by === "client") {
      this.close(this.client, passOn(code), "");
      if (this.upstream) this.close(this.upstream, passOn(code), closeReason(reason));
      this.finish({ by, code, reason });
      return;
    }
    const said = closeReason(redactor(this.credential!.secrets)(reason));
    this.close(this.upstream!, passOn(code), "");
    // Frames the upstream sent before closing (a last resumption handle) reach the client before the close does.
    const closeClient = () => this.close(this.client, passOn(code), said);
    if (this.outbound) this.outbound.finally(closeClient);
    else closeClient();
    this.finish({ by, code: passOn(code), reason: said });
  }

  /** A send to a socket that is closing throws: that side has gone, and the session ends as it would on its close. */
  private send(to: "client" | "upstream", data: Frame): void {
    try {
      (to === "client" ? this.client : this.upstream!).send(data);
    } catch {
      this.peerClosed(to, ABNORMAL, `${to} connection lost`);
    }
  }

  private close(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  private finish(end: Ending): void {
    const wasOpen = this.phase === "open" || this.phase === "connecting";
    this.phase = "ended";
    clearTimeout(this.setupTimer);
    clearTimeout(this.deadlineTimer);
    clearInterval(this.checker);
    this.queue = [];
    void (async () => {
      // Admission steps under way finish first, so the row's settlement gives back everything they took.
      await Promise.allSettled([this.beginning, this.growing]);
      await this.releaseToken();
      this.record(end, wasOpen);
      this.done();
    })();
  }

  /** Gives the session's token slot back (a hold not given back lapses by itself: TOKEN_HOLD_MS). */
  private async releaseToken(): Promise<void> {
    const token = this.init.token;
    if (!token || this.tokenHeldAt === undefined) return;
    this.tokenHeldAt = undefined;
    await tokenObject(this.scope.env, token.hash).release(this.scope.requestId)
      .catch((e) => console.error("ephemeral token: could not release the session's hold", describeError(e)));
  }

  private record(end: Ending, wasOpen: boolean): void {
    let status: number;
    let outcome: "ok" | "error" | "aborted";
    let error: string | null = null;
    if (end.by === "gateway") {
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
    const total = this.usage.total();
    this.scope.end({
      target: this.target ?? null,
      index: this.target ? 0 : null,
      attempts: this.attempts,
      status,
      outcome,
      error,
      usage: rowUsage(total),
      ttfbMs: this.ttfbMs,
      session: { close_code: end.code, closed_by: end.by, modality_tokens: modalityTokens(total) },
      billable: liveBillable(total),
    });
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What resumption handles are sealed with: the credential's own secret, so they resume only under it. */
const handleSecret = (c: Credential) => c.secrets.join("\n");

