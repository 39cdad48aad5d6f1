/** Prometheus metrics (prom-client) on a registry of this server's own, so several servers can share a process. */
import client from 'prom-client';

export class ServiceMetrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'method' | 'route' | 'status'>;
  readonly latency: client.Histogram<'method' | 'route'>;

  constructor(sources: {
    queueDepth: () => number;
    facesEncoded: () => number;
    gallerySizes: () => Array<[string, number]>;
  }) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: 'visage_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new client.Histogram({
      name: 'visage_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new client.Gauge({
      name: 'visage_inference_queue_depth',
      help: 'inference tasks waiting',
      registers,
      collect() {
        this.set(sources.queueDepth());
      },
    });
    new client.Gauge({
      name: 'visage_faces_encoded_total',
      help: 'faces encoded since start',
      registers,
      collect() {
        this.set(sources.facesEncoded());
      },
    });
    new client.Gauge({
      name: 'visage_gallery_embeddings',
      help: 'embeddings per open gallery',
      labelNames: ['gallery'],
      registers,
      collect() {
        for (const [g, n] of sources.gallerySizes()) this.set({ gallery: g }, n);
      },
    });
  }
}
