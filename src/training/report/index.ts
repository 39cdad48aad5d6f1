/** The self-contained HTML training report (inline SVG charts). */
export {
  renderTrainingReport,
  writeTrainingReport,
  worstFirst,
  type TrainingReportData,
  type EpochRecord,
  type DistanceSamples,
  type HyperValue,
  type HeldOutIdentity,
} from './html.js';
export { lineChart, histogramChart, binCounts, formatNumber, niceTicks, escapeXml, COLOURS } from './svg.js';
