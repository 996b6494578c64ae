import { describe, expect, test } from "bun:test";
import { healthEndpoint } from "../../../src/http/health.ts";

describe("healthEndpoint()", () => {
  test("answers 200 {status: ok} when the probe passes, 503 {status: unavailable} when it throws, never its reason", async () => {
    const ok = await healthEndpoint(() => {})();
    expect([ok.status, await ok.json(), ok.headers.get("cache-control")]).toEqual([200, { status: "ok" }, "no-store"]);
    const down = await healthEndpoint(() => {
      throw new Error("SQLITE_FULL on /secret/path");
    })();
    expect(down.status).toBe(503);
    expect(await down.text()).toBe('{"status":"unavailable"}');
  });

  test("one probe in flight at most: a thousand concurrent checks share it", async () => {
    let probes = 0;
    let finish!: () => void;
    const check = healthEndpoint(() => {
      probes++;
      return new Promise<void>((resolve) => (finish = resolve));
    }, 0);
    const answers = Array.from({ length: 1000 }, () => check());
    expect(probes).toBe(1);
    finish();
    expect((await Promise.all(answers)).map((r) => r.status)).toEqual(Array(1000).fill(200));
    // With no reuse window, the next check probes again.
    const next = check();
    expect(probes).toBe(2);
    finish();
    expect((await next).status).toBe(200);
  });

  test("an answer is reused within the window: checks in a row make one probe", async () => {
    let probes = 0;
    const check = healthEndpoint(() => void probes++, 60_000);
    for (let i = 0; i < 100; i++) expect((await check()).status).toBe(200);
    expect(probes).toBe(1);
  });

  test("says degraded (still 200) while an upstream is down; the store's failure still wins", async () => {
    let down = true;
    const check = healthEndpoint(() => {}, 0, () => down);
    const degraded = await check();
    expect([degraded.status, await degraded.text()]).toEqual([200, '{"status":"degraded"}']);
    down = false;
    expect(await (await check()).json()).toEqual({ status: "ok" });
    down = true;
    const failing = await healthEndpoint(() => {
      throw new Error("disk full");
    }, 0, () => true)();
    expect([failing.status, await failing.json()]).toEqual([503, { status: "unavailable" }]);
  });
});
