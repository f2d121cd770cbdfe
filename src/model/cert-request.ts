/**
 * What was asked for a host name (`cert-requests/<hostname>`) and how it went: written by the API
 * (`status: 'pending'`), then only by the certificate manager (src/certs).
 */
export interface CertRequest {
  hostname: string;
  app: string;
  method: 'acme' | 'local-ca' | 'upload';
  status: 'pending' | 'issued' | 'failed';
  created_at: string;
  updated_at: string;
  /** The last failure, kept until an issue succeeds. */
  error?: string;
  attempts: number;
  /** When the manager tries again after a failure, or renews. */
  next_attempt_at?: string;
}

/** `local-ca`: the certificate of the CA that signs apps-domain certificates, and where it is. */
export interface LocalCaRecord {
  cert_pem: string;
  /** The file on the server host that holds it. */
  path: string;
  host: string;
  /**
   * The CA's private key sealed with the secrets key (src/certs/shared-ca.ts): every API of the
   * store signs with this one CA. Never leaves the API (`GET /v1/certificates/ca` omits it).
   */
  key_sealed?: string;
}
