/** The HAProxy section serving its built-in Prometheus exporter on a unix socket for metrics-server.ts. */
export function metricsExporterLines(socketPath: string): string[] {
  return [
    '',
    'frontend nearby_metrics',
    `  bind "unix@${socketPath}" mode 600`,
    '  option dontlog-normal',
    '  http-request use-service prometheus-exporter',
  ];
}
