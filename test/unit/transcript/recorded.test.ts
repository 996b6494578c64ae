import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SandboxEngine } from "../../../src/sandbox/index.ts";
import { replayTranscript, TranscriptSchema, verifyTranscript, type Transcript } from "../../../src/transcript/index.ts";

/**
 * Transcripts an earlier server wrote (test/fixtures/transcripts, recorded by record.ts there before
 * the hook protocol was unified): `parley verify` must go on replaying every one exactly, whatever
 * changes in how the sandbox is driven.
 */
const DIR = resolve(import.meta.dir, "../../fixtures/transcripts");
const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
const load = (file: string): Transcript => TranscriptSchema.parse(JSON.parse(readFileSync(join(DIR, file), "utf8")));
const engine = new SandboxEngine();
afterAll(() => engine.dispose());

describe("recorded transcripts replay exactly", () => {
  test("the fixtures cover every record a replay reads", () => {
    const types = new Set(files.flatMap((f) => load(f).messages.map((m) => ("body" in m ? String(m.body.type ?? m.kind) : "redacted"))));
    for (const type of ["bot:attach", "bot:reload", "bot:fetch", "bot:error", "slot:join", "bot"]) expect(types).toContain(type);
    const hooks = files.flatMap((f) => load(f).messages.filter((m) => "to_slot" in m && m.to_slot?.startsWith("bot:")));
    expect(hooks.length).toBeGreaterThan(3); // onPrivateMessage
  });

  for (const file of files) {
    test(`${file}: chain, signature and replay`, async () => {
      const report = await verifyTranscript(load(file), { replay: (t) => replayTranscript(t, engine) });
      expect(report.failure).toBeUndefined();
      expect(report.checks).toContain("replay: every bot message reproduced exactly");
    });
  }

  test("a bot message changed after the fact is caught by the replay itself (not only by the chain)", async () => {
    const t = load("inline.json");
    const m = t.messages.find((x) => "sender" in x && x.kind === "bot" && typeof x.body.n === "number")!;
    if (!("body" in m)) throw new Error("unreachable");
    m.body.n = 99;
    expect(await replayTranscript(t, engine)).toMatch(new RegExp(`message ${m.id} differs from the replay`));
  });

  test("dropping a recorded reload or fetch makes the replay disagree", async () => {
    const withoutReload = load("evicted.json");
    withoutReload.messages = withoutReload.messages.filter((m) => !("body" in m) || m.body.type !== "bot:reload");
    expect(await replayTranscript(withoutReload, engine)).toMatch(/differs from the replay .*"seen":2/);
    const withoutFetch = load("inline.json");
    withoutFetch.messages = withoutFetch.messages.filter((m) => !("body" in m) || m.body.type !== "bot:fetch");
    expect(await replayTranscript(withoutFetch, engine)).toMatch(/replay failed with fetch \(ctx\.fetch http:\/\/127\.0\.0\.1:\d+\/forty-two has no recorded response\)/);
  });
});
