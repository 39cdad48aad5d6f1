/**
 * The single import point for TensorFlow.js in Visage. We use tfjs-core plus explicit backends (not the
 * `@tensorflow/tfjs` bundle's layers/converter) because networks are our own graphs (see graph/).
 */
export * as tf from '@tensorflow/tfjs-core';
