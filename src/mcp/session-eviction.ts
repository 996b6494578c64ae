/** What eviction reads of a session. */
interface Evictable {
  subject: string | null;
  address: string;
  lastSeen: number;
}

/**
 * The session to close when the table is full: from the address holding the most sessions, and
 * within it from the identities holding the most there, the least recently used. A flood of
 * sign-ins from one place (each sign-in a new identity) then evicts its own sessions, and a
 * user's idle session or long poll from elsewhere survives it. Runs only at the cap, so a scan.
 */
export function floodVictim(sessions: Map<string, Evictable>, perAddress: Map<string, number>): string | undefined {
  let address: string | undefined;
  let most = 0;
  for (const [a, n] of perAddress) {
    if (n > most) [address, most] = [a, n];
  }
  const perSubject = new Map<string | null, number>();
  for (const s of sessions.values()) if (s.address === address) perSubject.set(s.subject, (perSubject.get(s.subject) ?? 0) + 1);
  let heaviest = 0;
  for (const n of perSubject.values()) heaviest = Math.max(heaviest, n);
  let victim: [string, Evictable] | undefined;
  for (const entry of sessions) {
    const s = entry[1];
    if (s.address !== address || perSubject.get(s.subject) !== heaviest) continue;
    if (!victim || s.lastSeen < victim[1].lastSeen) victim = entry;
  }
  return victim?.[0];
}
