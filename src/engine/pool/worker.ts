/**
 * Worker-thread entry of the WorkerPool: start the engine once, then run tasks (named exports of ES
 * modules given by file URL) one at a time, posting back results or errors.
 */
import { parentPort, workerData, type TransferListItem } from 'node:worker_threads';
import type { BackendName } from '../../config.js';
import { initEngine } from '../backend.js';
import { loadTask, serializeError, Transfer, type RunMessage, type WorkerMessage } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('pool worker entry must run in a worker thread');

const post = (m: WorkerMessage, transfer?: TransferListItem[]) => port.postMessage(m, transfer);

try {
  await initEngine((workerData as { backend?: BackendName } | undefined)?.backend);
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'fatal', error: serializeError(e) });
}

port.on('message', async (m: RunMessage) => {
  try {
    const f = await loadTask(m.module, m.fn);
    const out = await f(m.payload);
    if (out instanceof Transfer) post({ type: 'result', id: m.id, value: out.value }, out.list);
    else post({ type: 'result', id: m.id, value: out });
  } catch (e) {
    post({ type: 'error', id: m.id, error: serializeError(e) });
  }
});
