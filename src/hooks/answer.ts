/** The `onAnswer` hooks of a call, in the order they see an answer (the reverse of the list's). */
import type { CallContext } from "../pipeline/context";
import type { GeminiJson } from "../providers/types";
import { editable } from "../streaming/sse";
import type { Hook, LastEvent } from "./hook";
import { hookFailed } from "./registry";

/** Per list of hooks (one per config), those with `onAnswer` or `onStreamEnd`, last first; undefined when none has one. */
const tappers = new WeakMap<readonly Hook[], Hook[] | undefined>();

export class AnswerTap {
  /** A hook ended the stream with the event last passed: nothing more is read from the upstream. */
  ended = false;

  constructor(private readonly ctx: CallContext, private readonly hooks: readonly Hook[]) {}

  /** The answer (or stream event) as it goes out; throws the call's error when a hook fails. */
  async pass(answer: GeminiJson, from = 0): Promise<GeminiJson> {
    for (let i = from; i < this.hooks.length; i++) {
      const hook = this.hooks[i]!;
      if (!hook.onAnswer) continue;
      let r: GeminiJson | LastEvent | undefined | void;
      try {
        r = await hook.onAnswer(this.ctx, answer);
      } catch (e) {
        throw hookFailed(hook, "onAnswer", e);
      }
      if (!r) continue;
      if (isLast(r)) {
        this.ended = true;
        r = r.end;
      }
      // A changed event is framed from its fields, not from the upstream's text a spread copy would carry along.
      if (r !== answer) answer = editable(r);
    }
    return answer;
  }

  /**
   * A stream's upstream ended: `tail` (the gateway's own held text, if any) passes the hooks, then each hook's
   * `onStreamEnd` event passes the hooks after it. The events to send, in order (none after one that ends).
   */
  async finish(tail?: GeminiJson): Promise<GeminiJson[]> {
    const out: GeminiJson[] = [];
    if (tail) {
      out.push(await this.pass(tail));
      if (this.ended) return out;
    }
    for (let i = 0; i < this.hooks.length; i++) {
      const hook = this.hooks[i]!;
      if (!hook.onStreamEnd) continue;
      let r: GeminiJson | LastEvent | undefined | void;
      try {
        r = await hook.onStreamEnd(this.ctx);
      } catch (e) {
        throw hookFailed(hook, "onStreamEnd", e);
      }
      if (!r) continue;
      let ending = false;
      if (isLast(r)) {
        ending = true;
        r = r.end;
      }
      out.push(await this.pass(editable(r), i + 1));
      if (ending || this.ended) {
        this.ended = true;
        return out;
      }
    }
    return out;
  }
}

/** `{ end }` alone: no Gemini answer has that shape. */
const isLast = (r: GeminiJson | LastEvent): r is LastEvent => "end" in r && Object.keys(r).length === 1;

/** The call's answer tap, or undefined when no hook looks at answers. `hooks`: the hooks engaged with the call (non-empty). */
export function answerTap(ctx: CallContext, hooks: readonly Hook[]): AnswerTap | undefined {
  let tapping = tappers.get(hooks);
  if (!tappers.has(hooks)) {
    const list = hooks.filter((h) => h.onAnswer || h.onStreamEnd).reverse();
    tappers.set(hooks, (tapping = list.length ? list : undefined));
  }
  return tapping && new AnswerTap(ctx, tapping);
}
