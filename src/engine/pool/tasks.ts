/** Tasks every pool can run; `engineInfo` tells which thread and backend a task landed on. */
import { isMainThread, threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { sibling } from './pool.js';

export const builtinTasks = sibling(import.meta.url, './tasks');

export function engineInfo(): { threadId: number; isMainThread: boolean; backend: string } {
  return { threadId, isMainThread, backend: tf.getBackend() };
}
