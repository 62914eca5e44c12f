/**
 * A Live session's admission, as a call's is (src/governance/gate.ts) but grown as it spends: a first slice of
 * tokens and dollars reserved before the upstream socket opens, each `usageMetadata` charged, and the next slice
 * reserved ahead of need (or the session ended when it is refused).
 */
import type { Gate } from "../governance/gate";
import { worstTokensUsd } from "../governance/worst-case";
import { roundUsd, type Price } from "../usage/prices";
import { tokensOf } from "../usage/row";
import { liveCost, LiveUsage, rowUsage, type ServerMessageUsage } from "./usage";

/**
 * Tokens reserved ahead of what the session has used, and their cost by the price model every call's worst case uses
 * (src/governance/worst-case.ts): as many tokens of the dearest kind, input or output, at the dearest tier.
 */
export const SLICE_TOKENS = 8_192;

export class SessionAdmission {
  readonly usage = new LiveUsage();
  /** What the session holds in the key's and team's leases. */
  private readonly reserved = { tokens: 0, usd: 0 };
  /** What it reserves ahead of need. */
  private slice = { tokens: SLICE_TOKENS, usd: 0 };
  private growing: Promise<void> = Promise.resolve();

  /** The model's price, once the setup named it (the usage reads it for each turn's tier). */
  get price(): Price | undefined {
    return this.usage.price;
  }
  set price(p: Price | undefined) {
    this.usage.price = p;
  }

  constructor(
    private readonly gate: Gate,
    /** Whether the session has ended: a charge queued behind its end reserves nothing more. */
    private readonly ended: () => boolean,
    private readonly fail: (e: unknown) => void,
  ) {}

  /** Takes the session's request slot and its first slice (a quarter of the key's tpm at most). */
  async open(): Promise<void> {
    const tpm = this.gate.record.rate_limit?.tpm;
    const tokens = tpm ? Math.max(1, Math.min(SLICE_TOKENS, Math.floor(tpm / 4))) : SLICE_TOKENS;
    this.slice = { tokens, usd: this.price ? worstTokensUsd(this.price, tokens) : 0 };
    await this.gate.admit(this.slice);
    this.reserved.tokens = this.slice.tokens;
    this.reserved.usd = this.slice.usd;
  }

  /** A server message's usage: when it adds to what was used, the session is charged. */
  observe(msg: ServerMessageUsage): void {
    if (this.usage.observe(msg)) this.charge();
  }

  /** Charges what the session has used, and reserves the next slice before it is needed (or ends the session). */
  private charge(): void {
    this.growing = this.growing
      .then(async () => {
        if (this.ended()) return;
        const spent = this.spent();
        const tokens = Math.max(0, spent.tokens + this.slice.tokens - this.reserved.tokens);
        const usd = Math.max(0, roundUsd(spent.usd + this.slice.usd - this.reserved.usd));
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
    return { tokens: t.input + t.output, usd: liveCost(this.price, this.usage).usd };
  }

  /** Settles once every growth under way has: the row's settlement then gives back all they took. */
  settled(): Promise<void> {
    return this.growing;
  }
}
