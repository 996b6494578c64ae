import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { ReadBatch } from "../../../src/store/read-batch.ts";

function grantsDb(): Database {
  const db = new Database(":memory:", { strict: true });
  db.run("CREATE TABLE grants (id TEXT PRIMARY KEY, revoked_at TEXT)");
  db.run("INSERT INTO grants VALUES ('g1', NULL), ('g2', NULL)");
  return db;
}

describe("ReadBatch", () => {
  test("reads asked for in one turn run together in one transaction, each answered with its own value", async () => {
    const db = grantsDb();
    const inTransaction: boolean[] = [];
    const get = db.prepare("SELECT * FROM grants WHERE id = ?");
    const batch = new ReadBatch(db, (id: string) => {
      inTransaction.push(db.inTransaction);
      return get.get(id) ?? null;
    });
    expect(await Promise.all([batch.get("g1"), batch.get("missing"), batch.get("g2")])).toEqual([
      { id: "g1", revoked_at: null },
      null,
      { id: "g2", revoked_at: null },
    ]);
    expect(inTransaction).toEqual([true, true, true]);
    db.close();
  });

  test("a read sees what was committed after it was asked for (a revocation takes effect at once)", async () => {
    const db = grantsDb();
    const get = db.prepare("SELECT revoked_at FROM grants WHERE id = ?");
    const batch = new ReadBatch(db, (id: string) => (get.get(id) as { revoked_at: string | null }).revoked_at);
    const asked = batch.get("g1");
    db.run("UPDATE grants SET revoked_at = 'now' WHERE id = 'g1'");
    expect(await asked).toBe("now");
    db.close();
  });

  test("a read that throws rejects the reads of its batch, and the next batch works", async () => {
    const db = grantsDb();
    const batch = new ReadBatch(db, (id: string) => {
      if (id === "bad") throw new Error("boom");
      return id;
    });
    const results = await Promise.allSettled([batch.get("g1"), batch.get("bad")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(await batch.get("g2")).toBe("g2");
    db.close();
  });
});
