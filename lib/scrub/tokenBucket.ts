/**
 * A token bucket of bytes per second: what bounds the scrub's reading, so that serving does not suffer
 * (STORAGE_SCRUB_MAX_BYTES_PER_SECOND). It holds at most one second's worth; a take larger than that
 * waits for its whole size, so a large chunk is paid for, never refused. The clock and the sleep are
 * injected (the unit tests drive them).
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly clock: Clock = REAL_CLOCK,
  ) {
    if (!(bytesPerSecond > 0)) throw new Error('a token bucket needs a positive rate');
    this.tokens = bytesPerSecond;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }

  /** Waits until `bytes` may be read, then spends them (the balance may go below zero for a take over capacity). */
  async take(bytes: number): Promise<void> {
    this.refill();
    while (this.tokens < Math.min(bytes, this.bytesPerSecond)) {
      await this.clock.sleep(Math.ceil(((Math.min(bytes, this.bytesPerSecond) - this.tokens) / this.bytesPerSecond) * 1000));
      this.refill();
    }
    this.tokens -= bytes;
  }
}
