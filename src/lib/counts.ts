/**
 * How many of something each key holds now (sessions per address, requests in progress, downloads
 * per caller). A key at zero is deleted, so the map holds only keys in use and stays bounded by
 * what is in use.
 */
export class Counts<K> extends Map<K, number> {
  /** The key's count (0 when absent). */
  of(key: K): number {
    return this.get(key) ?? 0;
  }

  add(key: K): void {
    this.set(key, this.of(key) + 1);
  }

  remove(key: K): void {
    const n = this.of(key) - 1;
    if (n > 0) this.set(key, n);
    else this.delete(key);
  }
}
