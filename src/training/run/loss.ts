/** The loss a run trains with, and its own state (miner calls, pair head, proxies) in and out of a checkpoint. */
import {
  BinaryPairLoss,
  ProxySoftmaxLoss,
  TripletMarginLoss,
  WeightedSumLoss,
  type EmbeddingLoss,
} from '../losses/index.js';
import { tripletOptionsFor, type RandomMiner } from '../miners/index.js';
import type { TrainSettings } from './settings.js';
import type { TrainState } from './state.js';

export function buildLoss(s: TrainSettings, classes: number): EmbeddingLoss {
  if (s.loss === 'binary') return new BinaryPairLoss({ seed: s.seed });
  const triplet = new TripletMarginLoss({
    margin: s.margin,
    softMargin: s.softMargin,
    ...tripletOptionsFor(s.mining, { seed: s.seed }),
  });
  if (s.softmax === 0) return triplet;
  return new WeightedSumLoss([
    { loss: triplet, weight: 1 },
    { loss: new ProxySoftmaxLoss({ classes, seed: s.seed }), weight: s.softmax },
  ]);
}

/** The triplet loss inside a plain or weighted-sum loss, and the softmax term when there is one. */
function lossParts(loss: EmbeddingLoss): { triplet?: TripletMarginLoss; softmax?: ProxySoftmaxLoss } {
  const parts = loss instanceof WeightedSumLoss ? loss.parts.map((p) => p.loss) : [loss];
  return {
    triplet: parts.find((l): l is TripletMarginLoss => l instanceof TripletMarginLoss),
    softmax: parts.find((l): l is ProxySoftmaxLoss => l instanceof ProxySoftmaxLoss),
  };
}

export function lossState(loss: EmbeddingLoss): TrainState['lossState'] {
  if (loss instanceof BinaryPairLoss) return { binary: loss.state() };
  const { triplet, softmax } = lossParts(loss);
  const miner = triplet?.miner as Partial<RandomMiner> | undefined;
  return {
    ...(typeof miner?.calls === 'number' ? { randomMinerCalls: miner.calls } : {}),
    ...(softmax ? { softmax: softmax.state() } : {}),
  };
}

export function restoreLossState(loss: EmbeddingLoss, st: TrainState['lossState']): void {
  if (loss instanceof BinaryPairLoss) {
    if (st.binary) loss.restore(st.binary);
    return;
  }
  const { triplet, softmax } = lossParts(loss);
  const miner = triplet?.miner as Partial<RandomMiner> | undefined;
  if (miner && typeof miner.calls === 'number' && typeof st.randomMinerCalls === 'number')
    miner.calls = st.randomMinerCalls;
  if (softmax && st.softmax) softmax.restore(st.softmax);
}

/** The binary loss's logistic head as the saved model's `pairHead`. */
export function headJson(loss: BinaryPairLoss): Record<string, unknown> {
  const h = loss.head();
  return { features: h.features, w: Array.from(h.w), b: h.b, eps: h.eps };
}
