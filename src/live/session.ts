/**
 * One Live API session, the relay state machine: the client's WebSocket (the gateway's end of a WebSocketPair)
 * relayed to the provider's, frame by frame in both directions, as they come (text and binary; nothing is held back
 * once the session is open).
 *
 *   setup message (./opening.ts: model, token lock, allow-list, price, files and caches it names) → credential and
 *   admission (./upstream.ts: the attempt loop's credential choice; ./admission.ts: request slot + a first slice of
 *   tokens and dollars; ./token-hold.ts) → upstream socket with the provider key → relay, checking the files and
 *   caches each later frame names, charging each `usageMetadata` and reserving the next slice ahead of need →
 *   close (either peer, or the gateway: a limit, a refusal, a revoked key) → one usage row (./ending.ts).
 *
 * Whoever closes first, the other side is closed with a meaningful code and reason (./close.ts), and the row says
 * which side it was. The row is written once every admission step that was under way has settled, so what the
 * session holds is always given back.
 */
import { GatewayError, toGatewayError } from "../gemini/errors";
import { redactor } from "../gemini/redact";
import { clock } from "../governance/clock";
import type { Gate } from "../governance/gate";
import type { CallScope } from "../pipeline/context";
import { inspectBody, type BodyReferences } from "../pipeline/body";
import type { Target } from "../lib/target";
import type { Credential } from "../providers/types";
import { assertReferencesOwned } from "../resources/references";
import type { AttemptInfo } from "../usage/row";
import { SessionAdmission } from "./admission";
import { ABNORMAL, closeReason, gatewayCode, gatewayReason, NORMAL, passOn } from "./close";
import { sessionRow, type Ending } from "./ending";
import { sealHandle } from "./resumption";
import { frameText, isObject, mayName, names, upstreamSetup } from "./setup";
import { TokenHold } from "./token-hold";
import type { PresentedToken } from "./tokens";
import { checkSetup } from "./opening";
import { assertHeldBy, handleSecret, openUpstream, sessionCredential } from "./upstream";
import type { ServerMessageUsage } from "./usage";
import { blockedReason, GUARDRAIL_CLOSE, liveGuard, type LiveGuard } from "../guardrails/live";
import type { Policy } from "../guardrails/policy";

/** How long a client may take to send its setup message. */
export const SETUP_TIMEOUT_MS = 10_000;
/** How often an open session re-checks its key (revoked, expired, rotated) and its deadline. */
export const CHECK_INTERVAL_MS = 1_000;
/** What a client may send before the upstream is open, or while a frame's files are checked (later frames wait). */
const MAX_QUEUED_FRAMES = 256;
const MAX_QUEUED_BYTES = 1 << 20;

type Frame = string | ArrayBuffer;

/**
 * The fields a frame is parsed and checked for: a second setup, and those through which a message uses a file or
 * cache (both spellings Gemini reads).
 */
const CHECKED_FIELDS = ["setup", "fileUri", "file_uri", "cachedContent", "cached_content"];
/** What a client frame names when it has text the key's guardrails read (src/guardrails/live.ts). */
const GUARDED_INPUT = ["text", "esponse", "args"];
/** What an upstream frame names when it has text for the output guardrails, or ends a turn whose text is held. */
const GUARDED_OUTPUT = ["text", "args"];
const TURN_ENDS = ["turnComplete", "generationComplete", "interrupted", "turn_complete", "generation_complete"];

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

class LiveSession {
  private phase: "setup" | "connecting" | "open" | "ended" = "setup";
  private upstream: WebSocket | undefined;
  /** The provider credential the upstream socket was opened with. */
  private credential: Credential | undefined;
  /** The provider's credential holding files and caches (src/providers/types.ts `resources`), if it has one. */
  private resources: Credential | undefined;
  private target: Target | undefined;
  /** The session's request slot and the tokens and dollars it holds, grown as it spends. */
  private readonly admission: SessionAdmission;
  /** Its hold on a live slot of its ephemeral token, when it was opened with one. */
  private readonly tokenHold: TokenHold | undefined;
  private readonly attempts: AttemptInfo[] = [];
  private ttfbMs: number | null = null;
  /** Frames the client sent while the upstream was being opened, or while a frame ahead of them is checked. */
  private queue: Frame[] = [];
  private queuedBytes = 0;
  /** A frame's files and caches being looked up: later frames wait in the queue, so none overtakes it. */
  private checking: Promise<void> | undefined;
  private beginning: Promise<void> | undefined;
  /** Frames to the client waiting behind one being rewritten (a resumption handle being sealed). */
  private outbound: Promise<void> | undefined;
  private readonly deadline: { at: number; error: () => GatewayError };
  private setupTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private checker: ReturnType<typeof setInterval> | undefined;
  private done!: () => void;
  /** The key's guardrails, when it or its team names any. */
  private guard: LiveGuard | undefined;

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
    this.admission = new SessionAdmission(init.gate, () => this.ended, (e) => this.fail(e));
    const { scope } = init;
    this.tokenHold = init.token && new TokenHold(scope.env, init.token, scope.requestId, scope.waitUntil);
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
    const guarded = this.guard?.checksInput && mayName(text, GUARDED_INPUT);
    if (!guarded && !mayName(text, CHECKED_FIELDS)) {
      this.send("upstream", data);
      return;
    }
    try {
      // A byte-order mark is dropped (a parser upstream may skip it); anything else JSON.parse refuses, a more
      // lenient parser might still read a field from, so it is not passed on.
      let msg = parseObject(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
      if (!msg) throw new GatewayError(400, "a Live message that names a setup, a file, a cache or text must be a JSON object");
      // A second setup would change the model (or a token's locked fields) past every check made at the first.
      if (Object.hasOwn(msg, "setup")) throw new GatewayError(400, "a Live session takes one setup message, as its first");
      if (guarded) {
        const g = this.guard!.client(msg);
        if (g.blocked) return this.blocked(g.blocked, "input");
        if (g.msg) msg = g.msg;
        const text = this.guard!.judgesInput ? this.guard!.clientText(msg) : "";
        if (text.trim()) {
          // The input judges read the message before it goes on; later frames wait behind it.
          const checked = msg;
          this.checking = this.guard!.judgeInput(text).then((v) => {
            if (this.ended) return;
            if (v.blocked) return this.blocked(v.blocked, "input");
            this.checking = undefined;
            this.pass(v.redact ? this.guard!.redactClient(checked) : checked, data);
            this.drain();
          });
          this.checking.catch((e) => this.fail(e));
          return;
        }
      }
      this.pass(msg, data);
    } catch (e) {
      this.fail(e);
    }
  }

  /** A checked client message on its way upstream, once the files and caches it names are the key's. */
  private pass(msg: Record<string, unknown>, data: Frame): void {
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
  }

  /**
   * The files and caches a message names are the key's (else a 404, as on the REST routes), and the session runs
   * under the credential that holds them: one in another project would be refused by the upstream.
   */
  private async assertUsable(refs: BodyReferences, credential: Credential): Promise<void> {
    if (await assertReferencesOwned(this.scope.env, this.gate.record, refs)) assertHeldBy(this.resources, credential);
  }

  /** The setup message: everything a session is checked for, then the upstream socket. */
  private async begin(first: Frame): Promise<void> {
    const { scope, gate } = this;
    const { message, setup, target, provider, price, usesResources } = await checkSetup(scope, gate, this.init.token, first);
    let effective = setup;
    // The key's guardrails read the system instruction before anything is held or called.
    this.guard = await liveGuard(scope);
    const checked = this.guard?.setup(effective);
    if (checked?.blocked) return this.blocked(checked.blocked, "input");
    if (checked?.msg) effective = checked.msg as typeof effective;
    this.admission.price = price;
    this.resources = provider.resources;

    // A resumption does not use up a token, but holds one of its live slots as a new session does.
    const sealed = effective.sessionResumption?.handle;
    const resumed = sealed !== undefined && sealed !== null && sealed !== "";
    const { choice, handle } = await sessionCredential(provider, target, { sealed: resumed ? sealed : undefined, keyId: scope.keyId, usesResources });
    const credential = choice.credential;
    if (handle !== undefined) effective = { ...effective, sessionResumption: { ...effective.sessionResumption, handle } };
    // A resumed session stays under the credential it began with.
    if (usesResources) assertHeldBy(this.resources, credential);
    await this.tokenHold?.take(resumed);
    if (this.ended) return;

    await this.admission.open();
    if (this.ended) return;

    // The input judges read the system instruction once the session is admitted (a judge call spends money).
    if (this.guard?.judgesInput) {
      const v = await this.guard.judgeInput(this.guard.setupText(effective));
      if (this.ended) return;
      if (v.blocked) return this.blocked(v.blocked, "input");
      if (v.redact) effective = this.guard.redactSetup(effective) as typeof effective;
    }

    const up = await openUpstream(provider, choice, target, this.init.version, scope.config.retry.timeoutMs, this.attempts);
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

  // ---- upstream → client

  private fromUpstream(data: Frame): void {
    if (this.phase === "ended") return;
    this.ttfbMs ??= Date.now() - this.scope.startedAt;
    let text = typeof data === "string" ? data : frameText(data);
    let msg: Record<string, unknown> | undefined;
    const guard = this.guard;
    let out: Frame | Promise<Frame> | undefined;
    if (guard?.checksOutput && (GUARDED_OUTPUT.some((k) => names(text, k)) || ((guard.holding || guard.judgesOutput) && TURN_ENDS.some((k) => names(text, k))))) {
      msg = parseObject(text);
      const g = msg && guard.server(msg);
      if (g?.blocked) return this.blocked(g.blocked, "output");
      if (g?.flush) this.toClient(asFrame(g.flush, data));
      if (g?.msg) {
        msg = g.msg;
        text = JSON.stringify(msg);
        data = asFrame(text, data);
      }
      if (g?.turn) {
        // The turn's end waits for the output judges: a block closes the session instead of sending it.
        const frame = data;
        out = guard.judgeTurn(g.turn).then((p) => {
          if (p) this.blocked(p, "output");
          return frame;
        });
      }
    }
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
        this.tokenHold?.noteResumable();
      } else this.toClient(out ?? data);
    } else this.toClient(out ?? data);
    if (names(text, "usageMetadata") || names(text, "turnComplete") || names(text, "interrupted")) {
      msg ??= parseObject(text);
      if (msg) this.admission.observe(msg as ServerMessageUsage);
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

  // ---- governance during the session

  /** The key still usable (its leases renewed when stale: a revocation or its team's deletion lands within a lease's life). */
  private async check(): Promise<void> {
    if (this.ended) return;
    try {
      if (clock.now() >= this.deadline.at) throw this.deadline.error();
      this.tokenHold?.renew((e) => this.fail(e));
      // A Governor out of reach for now leaves the last answer standing: the session is not ended for it.
      await this.gate.recheck();
    } catch (e) {
      this.fail(e);
    }
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

  /** A guardrail blocked the session's input or output: the frame is not passed on, and both sides are closed. */
  private blocked(p: Policy, stage: "input" | "output"): void {
    if (this.ended) return;
    const reason = closeReason(blockedReason(p, stage));
    this.close(this.client, GUARDRAIL_CLOSE, reason);
    if (this.upstream) this.close(this.upstream, NORMAL, "session ended by the gateway");
    this.finish({ by: "gateway", code: GUARDRAIL_CLOSE, reason });
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
    // The model's text the guardrails still held goes out first, checked as its end (not at all if a policy blocks it).
    const held = this.guard?.flush();
    if (held?.text) this.toClient(held.text);
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
      await Promise.allSettled([this.beginning, this.admission.settled()]);
      await this.tokenHold?.release();
      this.scope.end(sessionRow(end, wasOpen, { target: this.target, attempts: this.attempts, usage: this.admission.usage, ttfbMs: this.ttfbMs }));
      this.done();
    })();
  }
}

/** `text` as a frame of the kind `like` is (text or binary). */
const asFrame = (text: string, like: Frame): Frame => (typeof like === "string" ? text : (new TextEncoder().encode(text).buffer as ArrayBuffer));

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

