/**
 * `visage/engine`: the tensor engine and networks-as-data, for those who build their own networks or
 * executors. Not needed for the face or style verbs (`import … from 'visage'`).
 */
export { initEngine, engineInfo, type EngineInfo } from './backend.js';
export * from './graph/index.js';
