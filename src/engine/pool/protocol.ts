/**
 * What travels between the pool and its workers. Kept apart from pool.ts and worker.ts so that both
 * sides (and in-process mode) share one definition of task results and errors.
 */
import type { TransferListItem } from 'node:worker_threads';
import { VisageError, type ErrorCode } from '../../errors.js';

/** A task is a named export of an ES module, loaded by file URL in whichever thread runs it. */
export type TaskFn<P = any, R = any> = (payload: P) => R | Promise<R>;

/**
 * Return value of a task that wants some of its ArrayBuffers moved, not copied, to the caller:
 * `return withTransfer(result, [result.data.buffer])`.
 */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: TransferListItem[],
  ) {}
}

export function withTransfer<T>(value: T, list: TransferListItem[]): T {
  return new Transfer(value, list) as unknown as T;
}

export interface RunMessage {
  type: 'run';
  id: number;
  module: string;
  fn: string;
  payload: unknown;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  details?: Record<string, unknown>;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'fatal'; error: SerializedError }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const any = e as Error & { code?: unknown; details?: unknown };
    return {
      name: e.name,
      message: e.message,
      stack: e.stack,
      // Duck-typed so that a VisageError from another copy of errors.js (src vs dist) keeps its code.
      code: e.name === 'VisageError' && typeof any.code === 'string' ? any.code : undefined,
      details:
        any.details && typeof any.details === 'object' ? (any.details as Record<string, unknown>) : undefined,
    };
  }
  return { name: 'Error', message: String(e) };
}

/**
 * A worker's error as seen by the caller: its own VisageError code is preserved; anything else becomes
 * E_WORKER. The worker's stack is kept in details.workerStack because it is where the bug is.
 */
export function deserializeError(e: SerializedError, where: string): VisageError {
  if (e.code && e.code.startsWith('E_')) {
    return new VisageError(e.code as ErrorCode, e.message, {
      ...e.details,
      worker: where,
      workerStack: e.stack,
    });
  }
  return new VisageError('E_WORKER', `${where}: ${e.name}: ${e.message}`, {
    worker: where,
    workerStack: e.stack,
  });
}

/** Task modules already imported in this thread (by URL): each is loaded once per thread. */
const taskModules = new Map<string, Promise<Record<string, unknown>>>();

/** The task function `fn` exported by the ES module at `module`, importing it on first use. */
export async function loadTask(module: string, fn: string): Promise<TaskFn> {
  let mod = taskModules.get(module);
  if (!mod) {
    mod = import(module) as Promise<Record<string, unknown>>;
    taskModules.set(module, mod);
  }
  const f = (await mod)[fn];
  if (typeof f !== 'function') throw new Error(`task module ${module} has no exported function "${fn}"`);
  return f as TaskFn;
}
