import { describe, expect, spyOn, test } from "bun:test";
import { AppError } from "../../../src/errors.ts";
import { errorResponse } from "../../../src/http/errors.ts";

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

  test("an unexpected error is logged and answered 500 server_error without its text", async () => {
    const log = spyOn(console, "error").mockImplementation(() => {});
    try {
      const res = errorResponse(new Error("secret internals"), "/register");
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({ error: "server_error", error_description: "INTERNAL_ERROR: Unexpected server error" });
      expect(body).not.toContain("secret");
      expect(log).toHaveBeenCalledTimes(1);
    } finally {
      log.mockRestore();
    }
  });
});
