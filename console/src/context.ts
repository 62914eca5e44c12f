/** What every page of a signed-in console shares: the admin client and the directory of keys and teams. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Admin, KeyRecord, TeamRecord } from "./api";
import type { Abilities, Self } from "./roles";

export interface Directory {
  keys: KeyRecord[];
  teams: TeamRecord[];
  keyById: Map<string, KeyRecord>;
  teamById: Map<string, TeamRecord>;
}

export interface ConsoleCtx {
  admin: Admin;
  /** The signed-in token's role and team, and what that lets it do here. */
  self: Self;
  may: Abilities;
  dir: Directory;
  dirError?: Error;
  dirLoading: boolean;
  /** Reads keys and teams again (after a change made here, or to see others' changes). */
  reloadDir: () => void;
}

export const Ctx = createContext<ConsoleCtx | null>(null);
export const useConsole = () => useContext(Ctx)!;

export function directoryOf(keys: KeyRecord[], teams: TeamRecord[]): Directory {
  return { keys, teams, keyById: new Map(keys.map((k) => [k.id, k])), teamById: new Map(teams.map((t) => [t.id, t])) };
}
