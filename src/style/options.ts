/**
 * The options and progress report of style transfer (transfer.ts), in a file of their own so that the
 * feature networks (feature-net.ts), which state the defaults they were tuned with, need not import the
 * optimiser.
 */
import type { RgbImage } from '../image/index.js';

/**
 * Gatys-style optimisation of the generated image G:
 *   J(G) = α·J_content(C, G) + β·Σ_l λ[l]·J_style[l](S, G) + γ·TV(G)
 * on the pixels (0..255, clamped after every step), at one or several scales (coarse-to-fine).
 */
export interface TransferOptions {
  /** α. */
  contentWeight: number;
  /** β. */
  styleWeight: number;
  /** γ: total variation of G (pixels scaled to 0..1). */
  tvWeight: number;
  contentLayer: string;
  /** λ[l] per style layer. */
  styleLayers: Record<string, number>;
  /**
   * Per-layer normalisation of λ[l] (layers differ in scale by orders of magnitude; without it one layer
   * takes over). 'content': divide by J_style[l] of the content image itself, so every layer starts at
   * λ[l]. 'gram': divide by Σ G(S)²/(4·n_C²·(n_H·n_W)²), i.e. the Gram matrix's relative squared error.
   */
  normalizeStyleLayers: 'none' | 'content' | 'gram';
  /**
   * Transform applied to each tapped activation before its Gram matrix (Wang et al. 2021): 'softmax'
   * replaces a channel's map by n_H·n_W·softmax over positions of a/T, T = that channel's std on the
   * style image (so the map stays O(1) and keeps the ordering of responses but not their peaks).
   */
  smoothing: 'none' | 'softmax';
  /** Iterations per scale (a single number applies to every scale). */
  iterations: number | number[];
  /** Long side of the generated image at each scale, ascending; the last one is the output size. */
  scales: number[];
  /** L-BFGS needs a deterministic objective: it runs on the pixels and without jitter. */
  optimizer: 'adam' | 'lbfgs';
  /**
   * What the optimiser moves (see image-param.ts): the pixels; a pyramid of full- and lower-resolution
   * layers; or that pyramid in a decorrelated colour space.
   */
  parametrization: 'pixels' | 'pyramid' | 'pyramid-decorrelated';
  /** Adam step in pixel units (0..255); L-BFGS step length multiplier. */
  learningRate: number;
  init: 'content' | 'noise' | 'style';
  /** Std of the Gaussian noise (pixel units) added to the content init, or around grey for 'noise'. */
  initNoise: number;
  seed: number;
  /** Random translation of G by up to ±jitter pixels each step (reflect-padded): against grid artefacts. */
  jitter: number;
  /** Relative size of the style image(s): their area is matched to scale²·G's area. */
  styleScale: number;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** Called with the current image every `previewEvery` iterations (and at the end of each scale). */
  onPreview?: (img: RgbImage, p: TransferProgress) => void | Promise<void>;
  previewEvery?: number;
}

/** Progress of a style transfer (step, scale, J and its parts), passed to `onProgress` after each step. */
export interface TransferProgress {
  /** 0-based scale index and the number of scales. */
  scale: number;
  scales: number;
  width: number;
  height: number;
  /** Iteration within the scale (1-based) and iterations of this scale. */
  iteration: number;
  iterations: number;
  /** Iterations done over all scales and in total. */
  step: number;
  totalSteps: number;
  J: number;
  Jcontent: number;
  Jstyle: number;
  Jtv: number;
  elapsedSeconds: number;
  etaSeconds: number;
}
