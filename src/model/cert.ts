/**
 * `certs/<hostname>`: a TLS certificate the edge proxy serves for a host name (SNI). Written by the
 * certificate manager (ACME, the local CA, uploads); read by every proxy.
 */
export interface CertRecord {
  /** `app.example.com`, or a wildcard `*.apps.example.com`. */
  hostname: string;
  /** The leaf first, then its chain, PEM. */
  cert_pem: string;
  key_pem: string;
  /** ISO 8601. */
  not_after: string;
  source: 'acme' | 'local-ca' | 'upload';
  /** The app the host name routes to, when it is an app's custom domain. */
  app?: string;
}
