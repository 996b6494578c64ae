import { describe, expect, test } from "bun:test";
import { AppError } from "../../../src/errors.ts";
import { errorResponse } from "../../../src/http/errors.ts";
import { captureLog } from "../../helpers/log-capture.ts";

describe("errorResponse()", () => {
  const storage = new AppError("STORAGE_UNAVAILABLE", "Storage unavailable (disk full); nothing was changed, try again later (error err_0123abcd)");

  test("a storage failure at /mcp is a JSON-RPC error with 503 and Retry-After", async () => {
    const res = errorResponse(storage, "/mcp");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("10");
    expect(await res.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: `STORAGE_UNAVAILABLE: ${storage.message}` }, id: null });
  });

  test("elsewhere it is RFC 6749's temporarily_unavailable", async () => {
    const res = errorResponse(storage, "/authorize");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "temporarily_unavailable", error_description: `STORAGE_UNAVAILABLE: ${storage.message}` });
  });

  test("at a transcript download it is {error: CODE, message} with the code's status", async () => {
    const res = errorResponse(new AppError("RATE_LIMITED", "Too many transcript downloads in progress"), "/transcripts/chn_x");
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: "RATE_LIMITED", message: "RATE_LIMITED: Too many transcript downloads in progress" });
  });

  test("an unexpected error is logged under an error id and answered 500 server_error with the id, without its text", async () => {
    using log = captureLog("info");
    const res = errorResponse(new Error("secret internals"), "/register");
    expect(res.status).toBe(500);
    const body = await res.text();
    const { error, error_description } = JSON.parse(body);
    expect(error).toBe("server_error");
    const id = /^INTERNAL_ERROR: Unexpected server error \(error (err_[0-9a-f]{8})\)$/.exec(error_description)?.[1];
    expect(id).toBeDefined();
    expect(body).not.toContain("secret");
    expect(log.entries()).toEqual([{ time: expect.any(String), level: "error", msg: "internal error", error_id: id, where: "/register", error: "Error: secret internals" }]);
  });
});
