export type { HostTensor, InferenceNetwork } from './types.js';
export { activeEngine, createInferenceNetwork, engineFallbackReason, resetEngineChoice } from './engine.js';
export { inferenceThreads, setInferenceThreads } from './threads.js';
