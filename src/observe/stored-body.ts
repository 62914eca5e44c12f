/**
 * A call's stored body, as GET /admin/logs/{request_id}/body answers it (the console reads this type too: no imports).
 * `request`/`answer` are JSON, or (truncated) the first 256 KiB of their text, as a string.
 */
export interface StoredBody {
  request_id: string;
  at: string;
  key_id: string;
  team_id: string | null;
  action: string;
  model: string;
  stream: boolean;
  status: number;
  outcome: string;
  /** A failed call's error (as its log row has it); absent for a call that succeeded. */
  error?: string;
  request: unknown;
  request_truncated?: true;
  answer: unknown;
  answer_truncated?: true;
  /** A stream's answer: how many events were assembled into `answer`. */
  events?: number;
  /** Why a part is missing (a prompt a guardrail blocked is not stored). */
  note?: string;
}
