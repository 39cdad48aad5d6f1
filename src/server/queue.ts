/**
 * A bounded queue in front of inference: `concurrency` tasks run, at most `maxQueued` wait, and anything
 * more is refused at once with E_BUSY (→ 503 + Retry-After) instead of piling up memory and latency.
 */
import { VisageError } from '../errors.js';

export class BoundedQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
    /** A task that waits longer than this is dropped with E_TIMEOUT (the per-request time bound). */
    readonly maxWaitMs = 30_000,
  ) {}

  get depth(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued)
        throw new VisageError('E_BUSY', 'the server is busy; retry shortly', { queued: this.waiting.length });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(
            new VisageError('E_TIMEOUT', `waited ${this.maxWaitMs} ms for the inference queue; retry later`),
          );
        }, this.maxWaitMs);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiting.push(wake);
      });
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter so `running` never dips and lets a newcomer jump ahead.
      if (next) next();
      else this.running--;
    }
  }

  /** Resolves when nothing runs or waits (graceful shutdown). */
  async idle(): Promise<void> {
    while (this.running > 0 || this.waiting.length > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
