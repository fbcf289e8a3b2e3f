import { createServer, type Server } from 'node:http';
import type { KafkaIngestConsumer } from './kafka-ingest.consumer';

/**
 * GET /health/live: the process is up. GET /health/ready: 200 while consuming (503 while starting,
 * stopped, crashed or waiting for the store), with state, counters and consumer lag per partition.
 */
export function startHealthServer(consumer: KafkaIngestConsumer<unknown>, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'method not allowed' });
    if (req.url === '/health/live') return send(200, { status: 'ok' });
    if (req.url === '/health/ready') {
      const health = consumer.health();
      consumer
        .lag()
        .then((lag) => send(health.ready ? 200 : 503, { status: health.ready ? 'ready' : 'not-ready', ...health, lag }))
        .catch((e: Error) => send(503, { status: 'not-ready', ...health, lagError: e.message }));
      return;
    }
    send(404, { error: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
