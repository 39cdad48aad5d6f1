/**
 * Style transfer as jobs: POST makes one (202), one runs at a time (it takes the whole engine), a few
 * may wait, the rest get E_BUSY. Progress goes to SSE subscribers; the PNG lands in DIR/jobs/<id>.png and
 * the state in service.sqlite, so a finished result survives a restart.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { VisageError, isVisageError } from '../errors.js';
import { decodeImage } from '../image/decode.js';
import { encodePng } from '../image/encode.js';
import { stylize, type StyleProgress } from '../style/index.js';
import type { JobRow, ServiceDb } from './service-db.js';

export interface StyleJobOptions {
  size: number;
  iterations: number;
  styleWeight?: number;
  contentWeight?: number;
  preserveColors: boolean;
}

export interface JobEvent {
  state: JobRow['state'];
  step?: number;
  totalSteps?: number;
  J?: number;
  etaSeconds?: number;
  percent?: number;
  error?: string;
}

interface LiveJob {
  abort: AbortController;
  last: JobEvent;
  events: EventEmitter;
}

export class StyleJobs {
  private readonly live = new Map<string, LiveJob>();
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly db: ServiceDb,
    private readonly maxJobs: number,
    private readonly maxPixels: number,
  ) {}

  create(keyId: string, content: Buffer, styles: Buffer[], options: StyleJobOptions): string {
    if (this.pending >= this.maxJobs)
      throw new VisageError('E_BUSY', 'too many style jobs waiting; retry later');
    const id = crypto.randomUUID();
    this.db.insertJob(id, keyId, options);
    const job: LiveJob = {
      abort: new AbortController(),
      last: { state: 'queued', percent: 0 },
      events: new EventEmitter(),
    };
    this.live.set(id, job);
    this.pending++;
    this.chain = this.chain
      .then(() => this.run(id, job, content, styles, options))
      .finally(() => this.pending--);
    return id;
  }

  private emit(id: string, job: LiveJob, e: JobEvent): void {
    job.last = e;
    job.events.emit('event', e);
    if (e.state !== 'queued' && e.state !== 'running') setTimeout(() => this.live.delete(id), 60_000).unref();
  }

  private async run(
    id: string,
    job: LiveJob,
    content: Buffer,
    styles: Buffer[],
    o: StyleJobOptions,
  ): Promise<void> {
    if (job.abort.signal.aborted) return;
    this.db.setJobState(id, 'running');
    this.emit(id, job, { state: 'running', percent: 0 });
    try {
      const c = await decodeImage(content, { maxPixels: this.maxPixels });
      const s = await Promise.all(styles.map((b) => decodeImage(b, { maxPixels: this.maxPixels })));
      const r = await stylize(c, s, {
        size: o.size,
        iterations: o.iterations,
        styleWeight: o.styleWeight,
        contentWeight: o.contentWeight,
        preserveColors: o.preserveColors,
        signal: job.abort.signal,
        onProgress: (p: StyleProgress) =>
          this.emit(id, job, {
            state: 'running',
            step: p.step,
            totalSteps: p.totalSteps,
            J: p.J,
            etaSeconds: p.etaSeconds,
            percent: Math.round((100 * p.step) / p.totalSteps),
          }),
      });
      if (job.abort.signal.aborted) throw new Error('cancelled');
      const tmp = this.db.jobResultFile(id) + '.tmp';
      await fs.promises.writeFile(tmp, await encodePng(r.image));
      await fs.promises.rename(tmp, this.db.jobResultFile(id));
      this.db.setJobState(id, 'done');
      this.emit(id, job, { state: 'done', percent: 100 });
    } catch (e) {
      if (job.abort.signal.aborted) {
        this.db.setJobState(id, 'cancelled', 'cancelled by the client');
        this.emit(id, job, { state: 'cancelled', error: 'cancelled by the client' });
      } else {
        const msg = isVisageError(e) ? `${e.code}: ${e.message}` : 'style transfer failed';
        this.db.setJobState(id, 'failed', msg);
        this.emit(id, job, { state: 'failed', error: msg });
      }
    }
  }

  get(id: string): JobRow & { progress: JobEvent } {
    const row = this.db.getJob(id);
    if (!row) throw new VisageError('E_UNKNOWN_JOB', `no job ${id}`, { id });
    const live = this.live.get(id);
    return {
      ...row,
      progress: live?.last ?? { state: row.state, ...(row.state === 'done' ? { percent: 100 } : {}) },
    };
  }

  /** Subscribe to a job's events; returns the unsubscribe function. */
  subscribe(id: string, fn: (e: JobEvent) => void): () => void {
    const live = this.live.get(id);
    if (!live) return () => undefined;
    live.events.on('event', fn);
    return () => live.events.off('event', fn);
  }

  cancel(id: string): void {
    const job = this.get(id);
    if (job.state !== 'queued' && job.state !== 'running')
      throw new VisageError('E_JOB_STATE', `job ${id} is already ${job.state}`, { state: job.state });
    const live = this.live.get(id);
    live?.abort.abort();
    if (job.state === 'queued' && live) {
      this.db.setJobState(id, 'cancelled', 'cancelled by the client');
      this.emit(id, live, { state: 'cancelled', error: 'cancelled by the client' });
    }
  }

  async close(): Promise<void> {
    for (const j of this.live.values()) j.abort.abort();
    await this.chain.catch(() => undefined);
  }
}
