/**
 * The slow-body flood of issue 9 (item 2), measured; not part of `make bench`:
 *
 *   bun test/bench/slow-body-flood.ts [--connections 10000] [--compare REV] [--fd-limit N]
 *
 * An attacker (source address 127.0.0.2) opens N connections, each a `POST /register` that declares
 * 100,000 bytes of body and sends 6, and keeps them open (a connection the server closes is not
 * reopened: the count refused also tells how many the server held at once). Then a new client (127.0.0.1) signs in
 * and initializes. Printed per server: connections opened, answered 429, still open 1 s and 15 s
 * after the flood, the server's open fds and RSS then, and how long the new client took (sign-in
 * + initialize + health_check), or that it got no answer in 30 s. `--compare REV` runs the server
 * of git revision REV (extracted to a temp dir) first, in the same run: before and after.
 * `--fd-limit N` starts the servers under `prlimit --nofile=N` (default: this shell's limit).
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../helpers/mcp-client.ts";
import { after, openRaw, slowBodyHead, type RawConnection } from "../helpers/raw-http.ts";
import { startServer } from "../helpers/start-server.ts";
import { BUN, ROOT, vmRssKiB, checkout } from "./procs.ts";

const { values } = parseArgs({
  options: { connections: { type: "string", default: "10000" }, compare: { type: "string" }, "fd-limit": { type: "string" } },
});
const CONNECTIONS = Number(values.connections);
const BATCH = 500;

interface Figures {
  server: string;
  opened: number;
  floodSeconds: number;
  refused: number;
  openAfter1s: number;
  openAfter15s: number;
  fdsIdle: number;
  fdsAfter1s: number;
  fdsAfter15s: number;
  rssMiB: number;
  newcomer: string;
}

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const stillOpen = (conns: RawConnection[]) => conns.filter((c) => !c.isClosed()).length;

async function measure(label: string, root: string): Promise<Figures> {
  const main = [BUN, join(root, "src/main.ts")];
  const command = values["fd-limit"] ? ["prlimit", `--nofile=${values["fd-limit"]}:${values["fd-limit"]}`, "--", ...main] : main;
  await using srv = await startServer({ command });
  const pid = srv.proc.pid;
  const fdsIdle = fds(pid);
  const head = slowBodyHead(srv.port, "/register", 100_000, '{"a":1');
  const attack: RawConnection[] = [];
  const start = Date.now();
  for (let i = 0; i < CONNECTIONS; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, CONNECTIONS - i) }, () => openRaw(srv.port, head, { localAddress: "127.0.0.2" }));
    const opened = await Promise.race([Promise.all(batch), after(5_000, null)]);
    if (!opened) break;
    attack.push(...opened);
  }
  const flooded = Date.now();
  await Bun.sleep(1_000);
  const openAfter1s = stillOpen(attack);
  const fdsAfter1s = fds(pid);
  const rssMiB = vmRssKiB(pid) / 1024;

  const started = Date.now();
  const signedIn = Promise.race([
    connect(srv.mcpUrl, "newcomer").then(async (c) => {
      const ok = (await c.call("health_check")).status === "ok";
      await c[Symbol.asyncDispose]();
      return ok ? `${Date.now() - started} ms` : "health_check failed";
    }),
    after(30_000, "no answer in 30 s"),
  ]).catch((err: Error) => `failed: ${err.message.split("\n")[0]}`);
  const newcomer = await signedIn;

  await Bun.sleep(Math.max(0, flooded + 15_000 - Date.now()));
  const figures: Figures = {
    server: label,
    opened: attack.length,
    floodSeconds: (flooded - start) / 1000,
    refused: attack.filter((c) => c.status() === 429).length,
    openAfter1s,
    openAfter15s: stillOpen(attack),
    fdsIdle,
    fdsAfter1s,
    fdsAfter15s: fds(pid),
    rssMiB,
    newcomer,
  };
  for (const c of attack) c.socket.destroy();
  return figures;
}


const results: Figures[] = [];
if (values.compare) {
  using before = await checkout(values.compare);
  results.push(await measure(`${values.compare} (before)`, before.root));
}
results.push(await measure("this tree", ROOT));

process.stdout.write(
  `\nslow-body flood: ${CONNECTIONS.toLocaleString("en-US")} connections from 127.0.0.2, fd limit ${values["fd-limit"] ?? "inherited"}\n\n` +
    "| server | opened (in s) | answered 429 | open after 1 s / 15 s | server fds idle / 1 s / 15 s | server RSS at 1 s | new client: sign-in + initialize |\n|---|---|---|---|---|---|---|\n",
);
for (const f of results) {
  process.stdout.write(
    `| ${f.server} | ${f.opened} (${f.floodSeconds.toFixed(1)} s) | ${f.refused} | ${f.openAfter1s} / ${f.openAfter15s} | ${f.fdsIdle} / ${f.fdsAfter1s} / ${f.fdsAfter15s} | ${f.rssMiB.toFixed(0)} MiB | ${f.newcomer} |\n`,
  );
}
process.exit(0);
