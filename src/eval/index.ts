export * from './metrics.js';
export * from './pairs.js';
export {
  plotRoc,
  plotDistanceHistograms,
  savePlot,
  type RocSeries,
  type RocPlotOptions,
  type HistogramPlotOptions,
} from './plot.js';
