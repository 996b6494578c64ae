import { describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { logRequests, noteCaller, pathOf } from "../../../src/http/request-log.ts";
import { captureLog } from "../../helpers/log-capture.ts";

const server = {} as Server<undefined>;

describe("pathOf()", () => {
  test("the path without its query string, cut at 200 characters", () => {
    expect(pathOf("http://127.0.0.1:8201/transcripts/chn_x?key=dl_secret")).toBe("/transcripts/chn_x");
    expect(pathOf("http://[::1]:8201/authorize?code=abc&state=1")).toBe("/authorize");
    expect(pathOf("http://localhost:8201/")).toBe("/");
    expect(pathOf(`http://localhost:8201/${"a".repeat(500)}`)).toHaveLength(200);
  });
});

describe("logRequests()", () => {
  test("one request line: method, path, status, ms, the caller's short id; /healthz 200s only at debug", async () => {
    using log = captureLog("info");
    const fetch = logRequests(async (request) => {
      noteCaller(request, "usr_AbCdEfGhIjKlMnOpQrStUv");
      return new Response("ok", { status: 201 });
    });
    await fetch(new Request("http://localhost:8201/mcp?access_token=secret", { method: "POST", headers: { authorization: "Bearer tok" } }), server);
    await logRequests(async () => new Response("{}"))(new Request("http://localhost:8201/healthz"), server);
    expect(log.entries()).toEqual([{ time: expect.any(String), level: "info", msg: "request", method: "POST", path: "/mcp", status: 201, ms: expect.any(Number), caller: "usr_AbCdEfGh" }]);
  });

  test("a handler that throws: 500 with an error id, logged once as an internal error, and its request line", async () => {
    using log = captureLog("info");
    const res = await logRequests(() => {
      throw new Error("kaboom");
    })(new Request("http://localhost:8201/x"), server);
    expect(res.status).toBe(500);
    const { error_description } = (await res.json()) as { error_description: string };
    const id = /\(error (err_[0-9a-f]{8})\)$/.exec(error_description)![1];
    expect(error_description).not.toContain("kaboom");
    expect(log.entries().map(({ time, ms, ...e }) => e)).toEqual([
      { level: "error", msg: "internal error", error_id: id, where: "/x", error: "Error: kaboom" },
      { level: "info", msg: "request", method: "GET", path: "/x", status: 500 },
    ]);
  });
});
