/**
 * The opt-in Cloudflare Queues path for usage rows (README "Usage log"): with a `USAGE_QUEUE` producer binding, each
 * isolate's hand-offs go to the queue, and this Worker's `queue()` consumer writes each delivered batch to D1 with
 * batch() and settles it. Poison rows are retried by the queue until `max_retries`, then land in the dead-letter
 * queue, whose consumer (this Worker again) sets them aside in the buffer's `rejected` table.
 */
import type { Env } from "../env";
import { settleRecords } from "../governance/settle";
import { usageShard } from "./buffer";
import { insertStatement, storedByThisBatch } from "./insert";
import { describeError } from "./log";
import type { CallRecord } from "./record";

/** A queue whose name ends so is the usage queue's dead-letter queue. */
export const DEAD_LETTER_SUFFIX = "-dlq";
// sendBatch takes at most 100 messages and 256 KB; rows are small (errors are cut to 1000 characters).
const SEND_MAX_MESSAGES = 100;
const SEND_MAX_BYTES = 200_000;

export async function sendToQueue(queue: Queue<CallRecord>, rows: CallRecord[]): Promise<void> {
  let chunk: MessageSendRequest<CallRecord>[] = [];
  let bytes = 0;
  const sends: Promise<unknown>[] = [];
  for (const r of rows) {
    const size = JSON.stringify(r).length + 100;
    if (chunk.length && (chunk.length === SEND_MAX_MESSAGES || bytes + size > SEND_MAX_BYTES)) {
      sends.push(queue.sendBatch(chunk));
      chunk = [];
      bytes = 0;
    }
    chunk.push({ body: r, contentType: "json" });
    bytes += size;
  }
  if (chunk.length) sends.push(queue.sendBatch(chunk));
  await Promise.all(sends);
}

const retryDelay = (attempts: number) => Math.min(2 ** attempts, 300);

/** The `queue()` handler: one delivered batch of rows into D1 (one batch()), then settled row by row. */
export async function consumeUsage(batch: MessageBatch<CallRecord>, env: Env): Promise<void> {
  if (batch.queue.endsWith(DEAD_LETTER_SUFFIX)) return deadLetters(batch, env);
  const msgs = batch.messages;
  // A queue redelivers and regroups messages freely: the only stable batch is the row itself.
  const id = (r: CallRecord) => `queue:${r.request_id}`;
  let results: (D1Result | Error)[];
  try {
    results = await env.DB.batch(msgs.map((m) => insertStatement(env.DB, m.body, id(m.body))));
  } catch (e) {
    results = [];
    for (const m of msgs) results.push(await insertStatement(env.DB, m.body, id(m.body)).run().catch((err: Error) => err));
    if (results.every((r) => r instanceof Error)) {
      console.error(`usage queue: D1 write failed (${describeError(e)}); ${msgs.length} rows retried later`);
      batch.retryAll({ delaySeconds: retryDelay(msgs[0]?.attempts ?? 1) });
      return;
    }
  }
  await Promise.all(
    msgs.map(async (m, i) => {
      const r = results[i]!;
      if (r instanceof Error) {
        // D1 refuses this row while others went in: the queue retries it, then dead-letters it.
        console.error(`usage row ${m.body.request_id} refused by D1 (${describeError(r)}); attempt ${m.attempts}`);
        return m.retry();
      }
      if (m.body.settle && storedByThisBatch(r)) {
        try {
          await settleRecords(env, id(m.body), [m.body]);
        } catch (e) {
          console.error(`settlement of usage row ${m.body.request_id} failed (${describeError(e)}); retried later`);
          return m.retry({ delaySeconds: retryDelay(m.attempts) });
        }
      }
      m.ack();
    }),
  );
}

/** Dead letters are kept in the buffer's `rejected` table (counted as `rejected_rows`), never dropped. */
async function deadLetters(batch: MessageBatch<CallRecord>, env: Env): Promise<void> {
  await usageShard(env.USAGE_BUFFER, 0).reject(
    batch.messages.map((m) => m.body),
    `dead-lettered by queue ${batch.queue.slice(0, -DEAD_LETTER_SUFFIX.length)}`,
  );
  batch.ackAll();
}
