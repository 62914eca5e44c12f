/**
 * A session's hold on one of its ephemeral token's live slots (src/live/token-store.ts): taken before any upstream
 * socket, renewed every third of its life while the session runs, given back at its end.
 */
import type { Env } from "../env";
import { GatewayError } from "../gemini/errors";
import { clock } from "../governance/clock";
import { describeError } from "../lib/describe-error";
import { TOKEN_HOLD_MS, tokenObject } from "./token-store";
import { holdToken, type PresentedToken } from "./tokens";

export class TokenHold {
  /** When the session last took or renewed its hold (undefined: it holds none). */
  private heldAt: number | undefined;
  private renewing = false;
  private markedResumable = false;

  constructor(
    private readonly env: Env,
    private readonly token: PresentedToken,
    /** The session's request id: what the token's object knows the hold by. */
    private readonly id: string,
    private readonly waitUntil: (p: Promise<unknown>) => void,
  ) {}

  /** The token's Durable Object judges every session of the token, resumed ones too, before any upstream socket. */
  async take(resumed: boolean): Promise<void> {
    await holdToken(this.env, this.token, this.id, resumed, clock.now());
    this.heldAt = clock.now();
  }

  /**
   * Renews the hold every third of its life. A hold found lapsed (its slot may now be another session's) ends the
   * session (`fail`); a token object out of reach leaves it standing until the next try.
   */
  renew(fail: (e: unknown) => void): void {
    const now = clock.now();
    if (this.heldAt === undefined || this.renewing || now - this.heldAt < TOKEN_HOLD_MS / 3) return;
    this.renewing = true;
    tokenObject(this.env, this.token.hash).renew(now, this.id)
      .then((held) => {
        if (held) this.heldAt = now;
        else fail(new GatewayError(409, "the session's hold on its ephemeral token lapsed"));
      }, (e) => console.error("ephemeral token: could not renew the session's hold", describeError(e)))
      .finally(() => (this.renewing = false));
  }

  /** The upstream gave the session a resumption handle: the token is marked resumable (once). */
  noteResumable(): void {
    if (this.markedResumable) return;
    this.markedResumable = true;
    this.waitUntil(tokenObject(this.env, this.token.hash).markResumable().catch((e) => console.error("ephemeral token: could not mark it resumable", describeError(e))));
  }

  /** Gives the slot back (a hold not given back lapses by itself: TOKEN_HOLD_MS). */
  async release(): Promise<void> {
    if (this.heldAt === undefined) return;
    this.heldAt = undefined;
    await tokenObject(this.env, this.token.hash).release(this.id)
      .catch((e) => console.error("ephemeral token: could not release the session's hold", describeError(e)));
  }
}
