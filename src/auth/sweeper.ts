import { log } from "../lib/log.ts";
import type { AuthStore, SweepCounts, SweepCutoffs } from "../store/index.ts";
import type { AuthSettings } from "./context.ts";

const DAY_MS = 86_400_000;
/** A registered client that has not signed in within a day is deleted (a registration flood's residue). */
export const PENDING_CLIENT_MS = DAY_MS;
/**
 * An exchanged code is kept a day past its expiry so that a replay still revokes the tokens it
 * produced (RFC 6749 §4.1.2); an unused one goes as soon as it expires.
 */
export const USED_CODE_MS = DAY_MS;
/**
 * A rotated refresh token is kept a day, so reuse within it still revokes the family (OAuth 2.1
 * §4.3.1); after that it only answers invalid_grant. Without this a client refreshing in a loop
 * would grow its family by a row per refresh for the whole refresh lifetime (30 days).
 */
export const ROTATED_REFRESH_MS = DAY_MS;
const BATCH = 200;
const INTERVAL_MS = 5 * 60_000;

/**
 * What is dead at `now`. A family is dead once revoked, or once its newest refresh token expired
 * more than an access-token lifetime ago: an access token is issued with each refresh token and
 * lives at most that long after it, so none of the family's tokens can still be in use.
 */
export function sweepCutoffs(settings: Pick<AuthSettings, "accessTokenTtlSeconds">, now: number): SweepCutoffs {
  return {
    unusedCodes: now,
    usedCodes: now - USED_CODE_MS,
    pendingClients: now - PENDING_CLIENT_MS,
    deadFamilies: now - settings.accessTokenTtlSeconds * 1000,
    rotatedRefresh: now - ROTATED_REFRESH_MS,
  };
}

type Totals = Omit<SweepCounts, "more">;

/**
 * Deletes everything dead at `now` in steps of at most `batch` rows of each kind, yielding to
 * the event loop between steps so requests are served while a large backlog goes.
 */
export async function sweepAuth(ctx: { store: AuthStore; settings: Pick<AuthSettings, "accessTokenTtlSeconds"> }, now = Date.now(), batch = BATCH, stopped = () => false): Promise<Totals> {
  const cutoffs = sweepCutoffs(ctx.settings, now);
  const total: Totals = { codes: 0, clients: 0, families: 0, rotated: 0 };
  for (;;) {
    const step = await ctx.store.sweep(cutoffs, batch);
    total.codes += step.codes;
    total.clients += step.clients;
    total.families += step.families;
    total.rotated += step.rotated;
    if (!step.more || stopped()) return total;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/**
 * Sweeps at start-up and every five minutes on an unref'd timer (it never keeps the process
 * alive). `stop()` ends it after the current step, before the store closes.
 */
export function startSweeper(ctx: Parameters<typeof sweepAuth>[0], intervalMs = INTERVAL_MS): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running
      .then(() => (stopped ? null : sweepAuth(ctx, Date.now(), BATCH, () => stopped)))
      .catch((err) => log.error("OAuth sweep failed", { err }));
  };
  const first = setTimeout(run, 0);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
