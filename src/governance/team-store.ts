/** Teams in KV: `team:<id>` → the record. Read by the admin API only (admission asks the team's Durable Object). */
import { isRecordId } from "../auth/key-store";
import type { TeamRecord } from "./team-record";

export class TeamStore {
  constructor(private readonly kv: KVNamespace) {}

  async get(id: string): Promise<TeamRecord | null> {
    if (!isRecordId(id)) return null;
    return this.kv.get<TeamRecord>(`team:${id}`, "json");
  }

  put(t: TeamRecord): Promise<void> {
    return this.kv.put(`team:${t.id}`, JSON.stringify(t));
  }

  delete(id: string): Promise<void> {
    return this.kv.delete(`team:${id}`);
  }

  async list(limit: number, cursor?: string): Promise<{ records: TeamRecord[]; cursor?: string }> {
    const page = await this.kv.list({ prefix: "team:", limit, cursor });
    const records = await Promise.all(page.keys.map((k) => this.kv.get<TeamRecord>(k.name, "json")));
    return {
      records: records.filter((t): t is TeamRecord => !!t),
      cursor: page.list_complete ? undefined : page.cursor,
    };
  }
}
