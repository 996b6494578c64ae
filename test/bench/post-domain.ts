/**
 * Profiling aid, not part of `make bench`: `bun test/bench/post-domain.ts [seconds] [concurrency]`.
 * The domain half of post_message alone — postMessage() on a real SQLite file, `concurrency`
 * closed-loop callers seated in one channel, as the (c) load does over MCP — so its CPU per call
 * can be profiled (`bun --cpu-prof-md --cpu-prof-dir=DIR test/bench/post-domain.ts`) without the
 * HTTP and MCP layers in the way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as channels from "../../src/channels/index.ts";
import { SandboxEngine, PRESETS } from "../../src/sandbox/index.ts";
import { SqliteStore } from "../../src/store/index.ts";

const seconds = Number(process.argv[2] ?? 3);
const concurrency = Number(process.argv[3] ?? 16);
const dir = mkdtempSync(join(tmpdir(), "parley-bench-post-"));
const store = new SqliteStore(dir);
// With the bots runtime, as the server has it: every post then asks whether the channel has bots.
const engine = new SandboxEngine();
const ctx: channels.ChannelsContext = {
  store,
  notifier: new channels.Notifier(),
  limits: { maxMessageBytes: 65536 },
  bots: channels.createBotsRuntime({ engine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) }),
};

const admin = { principal: "usr_admin" };
const slots = Array.from({ length: concurrency }, (_, i) => `invite:p${i}`);
const created = await channels.createChannel(ctx, admin, { name: "bench", slots });
const callers = Array.from({ length: concurrency }, (_, i) => ({ principal: `usr_p${i}` }));
for (const [i, who] of callers.entries()) await channels.joinChannel(ctx, who, { invite_code: created.invites[i]! });

const input = { channel_id: created.channel_id, body: "hello world" };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = t0 + seconds * 1000;
let calls = 0;
await Promise.all(
  callers.map(async (who) => {
    while (performance.now() < end) {
      await channels.postMessage(ctx, who, input);
      calls++;
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
const wall = (performance.now() - t0) / 1000;
process.stdout.write(`${calls} posts in ${wall.toFixed(2)} s: ${Math.round(calls / wall)}/s, CPU ${(((cpu.user + cpu.system) / calls)).toFixed(1)} µs/post\n`);
engine.dispose();
store.close();
rmSync(dir, { recursive: true, force: true });
