export type { Distance } from './types.js';
export { euclidean, squaredEuclidean } from './euclidean.js';
