/** `nearby server`: run every part of nearby on this host, in the foreground. */
import { serverOptions, serverSettings } from '../../server/settings.ts';
import type { Command } from '../command.ts';

export const server: Command = {
  name: 'server',
  summary: 'run the API, agent and edge proxy on this host (foreground)',
  help: `Usage: nearby server [options]

Runs the control-plane API, the host agent and the edge proxy (HAProxy) in one process.
SIGTERM or Ctrl-C stops nearby; machines keep running and are adopted on the next start.

Options (environment variable in brackets):
  --data-dir DIR           state, images, machines and the admin token [NEARBY_DATA_DIR] (~/.nearby)
  --api-listen ADDR        control-plane API [NEARBY_API_LISTEN] (127.0.0.1:4280)
  --proxy-listen ADDR      edge proxy for apps, HTTP (their port 80) [NEARBY_PROXY_LISTEN] (0.0.0.0:8080)
  --proxy-tls-listen ADDR  edge proxy for apps, TLS (their port 443) [NEARBY_PROXY_TLS_LISTEN] (0.0.0.0:8443)
  --apps-domain DOMAIN     apps answer at <app>.DOMAIN [NEARBY_APPS_DOMAIN] (localhost)
  --acme-directory URL     ACME server for \`nearby certs add\` [NEARBY_ACME_DIRECTORY]
                           (https://acme-v02.api.letsencrypt.org/directory)
  --acme-challenge TYPE    how \`certs add\` names are validated: http-01 (port 80) or tls-alpn-01
                           (port 443) [NEARBY_ACME_CHALLENGE] (the one the proxy's ports allow)
  --acme-dns-listen ADDR   answer _acme-challenge.<apps domain> here (UDP and TCP) and get the apps
                           domain's wildcard by DNS-01 [NEARBY_ACME_DNS_LISTEN] (off: local CA)
  --metrics-listen ADDR    Prometheus /metrics of the proxy, or off [NEARBY_METRICS_LISTEN] (127.0.0.1:9480)
  --autostop-interval DUR  how often idle machines are looked for [NEARBY_AUTOSTOP_INTERVAL] (10s)
  --autostop-idle DUR      idle time before autostop stops or suspends a machine [NEARBY_AUTOSTOP_IDLE] (5m)
  --wake-timeout DUR       how long a request waits for a stopped machine to listen, then 503
                           [NEARBY_WAKE_TIMEOUT] (10s)
  --region CODE            this host's region [NEARBY_REGION] (local)
  --host-name NAME         this host's name [NEARBY_HOST_NAME] (the hostname)
  --runtime NAME           crun, runc, or microvm (QEMU microVMs, docs/microvm.md) [NEARBY_RUNTIME]
                           (auto: crun, else runc)
  --bridge NAME            host bridge for machines [NEARBY_BRIDGE] (nearby0)
  --machine-cidr CIDR      machines' IPv4 subnet [NEARBY_MACHINE_CIDR] (172.19.0.0/16)
  --machine-cidr6 CIDR     machines' IPv6 /64 [NEARBY_MACHINE_CIDR6] (fdaa:0:1::/64)
  --insecure-registry HOST plain-HTTP registry besides loopback ones (repeatable)
                           [NEARBY_INSECURE_REGISTRIES, comma-separated]
  --registry-listen ADDR   nearby's own registry for built images, or off
                           [NEARBY_REGISTRY_LISTEN] (127.0.0.1:5050)
  --log-format text|json   [NEARBY_LOG_FORMAT] (text on a terminal, else json)`,
  options: serverOptions,
  async run({ values, signal }) {
    // Loaded on demand: other commands should not pay for the server's modules.
    const { runServer } = await import('../../server/mod.ts');
    await runServer(serverSettings(values), signal);
    return 0;
  },
};
