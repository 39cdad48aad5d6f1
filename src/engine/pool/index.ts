export { WorkerPool, sibling, type PoolOptions, type TaskRef } from './pool.js';
export { withTransfer, type TaskFn } from './protocol.js';
export { builtinTasks } from './tasks.js';
