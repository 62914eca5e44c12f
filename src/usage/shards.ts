/** How the usage buffer is sharded: plain names, shared by the Worker, its tests and the e2e harness (in Node). */

/** How many buffer objects share the hand-offs; each isolate picks one. Shard 0 is the former single buffer. */
export const USAGE_SHARDS = 8;

export const shardName = (i: number) => (i === 0 ? "usage" : `usage:${i}`);
