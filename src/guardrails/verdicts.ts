/** The judges (`model` policies) on one text: each one's verdict tallied, and what they decide together. */
import type { Tally } from "./check";
import { judge, type JudgeConfig } from "./judge";
import type { Policy, Stage } from "./policy";

/**
 * The judges' verdicts on a text, tallied (`unsafe`, or `judge_error` when `on_error` blocks or allows): the first
 * blocking judge that found it unsafe (or failed with `on_error: block`), or whether one asks for a redaction.
 */
export async function judged(config: JudgeConfig, judges: Policy[], text: string, stage: Stage, tally: Tally): Promise<{ blocked?: Policy; redact?: boolean }> {
  if (!text.trim()) return {};
  const verdicts = await Promise.all(judges.map((p) => judge(config, p.judge!.model, text, p.judge!.timeoutMs)));
  let blocked: Policy | undefined;
  let redact = false;
  judges.forEach((p, i) => {
    const v = verdicts[i]!;
    tally.cost(p, stage, v.usd);
    if ("error" in v) {
      console.error(`guardrail policy "${p.name}": ${v.error}; on_error ${p.judge!.onError}`);
      if (p.judge!.onError === "block") {
        tally.add(p, stage, "judge_error", 1, "block");
        blocked ??= p;
      } else tally.add(p, stage, "judge_error", 1, "flag");
      return;
    }
    if (v.verdict === "safe") return;
    tally.add(p, stage, "unsafe");
    if (p.action === "block") blocked ??= p;
    else if (p.action === "redact") redact = true;
  });
  return { blocked, redact };
}

