/**
 * `/v1/apps/{app}/certificates[/{hostname}]`: ask for an ACME certificate, upload one, list, show,
 * remove; `/v1/certificates/ca`: the local CA's certificate. Issuing happens in the certificate
 * manager (src/certs); this only records what is wanted and reports how it went.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  appDomainHost,
  appsWildcardHost,
  certErrors,
  certFacts,
  normalizeHostname,
  renewAt,
} from '../../certs/mod.ts';
import { NearbyError } from '../../errors.ts';
import type { CertRecord } from '../../model/cert.ts';
import type { CertRequest, LocalCaRecord } from '../../model/cert-request.ts';
import { keys } from '../../model/keys.ts';
import { values } from '../../store/mod.ts';
import { type ControlPlane, getApp } from '../machines.ts';

export interface CertificateView {
  hostname: string;
  app: string;
  source: CertRecord['source'];
  /** pending: being issued; issued: served; failed: not issued (see error); expired. */
  status: 'pending' | 'issued' | 'failed' | 'expired';
  not_after?: string;
  renew_at?: string;
  issuer?: string;
  error?: string;
  attempts: number;
  next_attempt_at?: string;
  created_at?: string;
  /** The certificate that serves this host name when it is not its own: the apps domain's wildcard. */
  covered_by?: string;
}

function view(app: string, hostname: string, cert?: CertRecord, request?: CertRequest): CertificateView {
  const facts = cert ? certFacts(cert.cert_pem) : undefined;
  const status: CertificateView['status'] =
    facts === undefined
      ? request?.status === 'failed'
        ? 'failed'
        : 'pending'
      : facts.notAfter.getTime() < Date.now()
        ? 'expired'
        : 'issued';
  return {
    hostname,
    app,
    source: cert?.source ?? request?.method ?? 'acme',
    status,
    not_after: facts?.notAfter.toISOString(),
    renew_at: facts && cert?.source !== 'upload' ? renewAt(facts).toISOString() : undefined,
    issuer: facts?.issuer,
    error: request?.error,
    attempts: request?.attempts ?? 0,
    next_attempt_at: request?.status === 'failed' ? request.next_attempt_at : undefined,
    created_at: request?.created_at,
  };
}

/** Checks an uploaded chain and key belong together, name the host and are in date. */
function checkUpload(hostname: string, certPem: string, keyPem: string): CertRecord {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
      throw certErrors.invalidUpload('the key does not match the certificate');
  } catch (error) {
    if (error instanceof NearbyError) throw error;
    throw certErrors.invalidUpload((error as Error).message);
  }
  if (!leaf.checkHost(hostname)) throw certErrors.invalidUpload(`it is not valid for ${hostname}`);
  const facts = certFacts(certPem);
  if (facts.notAfter.getTime() < Date.now())
    throw certErrors.invalidUpload(`it expired on ${facts.notAfter.toISOString()}`);
  return {
    hostname,
    cert_pem: certPem,
    key_pem: keyPem,
    not_after: facts.notAfter.toISOString(),
    source: 'upload',
  };
}

/** A host name to get a certificate for; with `cert_pem` and `key_pem`, an upload. */
const certificateBody = {
  type: 'object',
  required: ['hostname'],
  additionalProperties: false,
  properties: {
    hostname: { type: 'string', minLength: 1, maxLength: 253 },
    cert_pem: { type: 'string', maxLength: 65536 },
    key_pem: { type: 'string', maxLength: 16384 },
  },
} as const;

export function certRoutes(api: FastifyInstance, cp: ControlPlane, options: { appsDomain: string }): void {
  const { store } = cp;

  async function owned(hostname: string) {
    const [cert, request] = await Promise.all([
      store.get<CertRecord>(keys.cert(hostname)),
      store.get<CertRequest>(keys.certRequest(hostname)),
    ]);
    const owner = request?.value.app ?? cert?.value.app;
    return { cert: cert?.value, request: request?.value, requestRevision: request?.revision ?? 0, owner };
  }

  /**
   * The app's own host on the apps domain once the apps domain's wildcard serves it (the local
   * CA's certificate for it is then removed): the wildcard's status, under the app's host name.
   */
  async function coveredByWildcard(
    app: string,
  ): Promise<(CertificateView & { covered_by: string }) | undefined> {
    const wildcard = await store.get<CertRecord>(keys.cert(appsWildcardHost(options.appsDomain)));
    if (wildcard === undefined) return undefined;
    const covered = view(app, appDomainHost(app, options.appsDomain), wildcard.value, undefined);
    return { ...covered, covered_by: wildcard.value.hostname };
  }

  api.post<{ Params: { app: string }; Body: { hostname?: string; cert_pem?: string; key_pem?: string } }>(
    '/v1/apps/:app/certificates',
    { schema: { body: certificateBody } },
    async (request, reply) => {
      const app = await getApp(store, request.params.app);
      const body = request.body ?? {};
      if (typeof body.hostname !== 'string') throw certErrors.invalidHostname(String(body.hostname ?? ''));
      const hostname = normalizeHostname(body.hostname);
      const current = await owned(hostname);
      if (current.owner !== undefined && current.owner !== app.name)
        throw certErrors.otherApp(hostname, current.owner);
      const now = new Date().toISOString();
      const upload = body.cert_pem !== undefined || body.key_pem !== undefined;
      if (upload) {
        if (typeof body.cert_pem !== 'string' || typeof body.key_pem !== 'string') {
          throw certErrors.invalidUpload('send both cert_pem and key_pem');
        }
        const record = { ...checkUpload(hostname, body.cert_pem, body.key_pem), app: app.name };
        const certRequest: CertRequest = {
          hostname,
          app: app.name,
          method: 'upload',
          status: 'issued',
          created_at: now,
          updated_at: now,
          attempts: 0,
        };
        // The request is written on the revision read: two apps claiming one name, or a claim
        // meeting the certificate manager's update, conflict (409, try again) instead of one
        // silently overwriting the other.
        await store.put(keys.certRequest(hostname), certRequest, { expectRevision: current.requestRevision });
        await store.put(keys.cert(hostname), record);
        reply.code(201);
        return view(app.name, hostname, record, certRequest);
      }
      if (hostname === appDomainHost(app.name, options.appsDomain)) {
        // Issued by the local CA without asking; nothing to record.
        reply.code(200);
        return view(app.name, hostname, current.cert, undefined);
      }
      const certRequest: CertRequest = {
        hostname,
        app: app.name,
        method: 'acme',
        status: 'pending',
        created_at: current.request?.created_at ?? now,
        updated_at: now,
        attempts: 0,
      };
      await store.put(keys.certRequest(hostname), certRequest, { expectRevision: current.requestRevision });
      reply.code(201);
      return view(
        app.name,
        hostname,
        current.cert?.source === 'acme' ? current.cert : undefined,
        certRequest,
      );
    },
  );

  api.get<{ Params: { app: string } }>('/v1/apps/:app/certificates', async (request) => {
    const app = await getApp(store, request.params.app);
    const certs = (await values<CertRecord>(store, keys.certs())).filter((cert) => cert.app === app.name);
    const requests = (await values<CertRequest>(store, keys.certRequests())).filter(
      (r) => r.app === app.name,
    );
    const names = [...new Set([...certs.map((c) => c.hostname), ...requests.map((r) => r.hostname)])].sort();
    const certificates = names.map((hostname) =>
      view(
        app.name,
        hostname,
        certs.find((c) => c.hostname === hostname),
        requests.find((r) => r.hostname === hostname),
      ),
    );
    if (!names.includes(appDomainHost(app.name, options.appsDomain))) {
      const covered = await coveredByWildcard(app.name);
      if (covered !== undefined) certificates.unshift(covered);
    }
    return { certificates };
  });

  api.get<{ Params: { app: string; hostname: string } }>(
    '/v1/apps/:app/certificates/:hostname',
    async (request) => {
      const app = await getApp(store, request.params.app);
      const hostname = normalizeHostname(request.params.hostname);
      const current = await owned(hostname);
      if (current.owner === app.name) return view(app.name, hostname, current.cert, current.request);
      if (current.owner === undefined && hostname === appDomainHost(app.name, options.appsDomain)) {
        const covered = await coveredByWildcard(app.name);
        if (covered !== undefined) return covered;
      }
      throw certErrors.notFound(hostname, app.name);
    },
  );

  api.delete<{ Params: { app: string; hostname: string } }>(
    '/v1/apps/:app/certificates/:hostname',
    async (request) => {
      const app = await getApp(store, request.params.app);
      const hostname = normalizeHostname(request.params.hostname);
      const current = await owned(hostname);
      const automatic = (by: string) =>
        new NearbyError('CERT_AUTOMATIC', `${hostname} is served by ${by} for as long as the app exists`, {
          status: 409,
          hint: 'it goes away with the app',
        });
      if (current.owner === undefined && hostname === appDomainHost(app.name, options.appsDomain)) {
        const covered = await coveredByWildcard(app.name);
        if (covered) throw automatic(`the wildcard ${covered.covered_by}`);
      }
      if (current.owner !== app.name) throw certErrors.notFound(hostname, app.name);
      if (current.request === undefined && current.cert?.source === 'local-ca')
        throw automatic('the local CA');
      await store.delete(keys.certRequest(hostname));
      await store.delete(keys.cert(hostname));
      return { ok: true, hostname };
    },
  );

  api.get('/v1/certificates/ca', async () => {
    const entry = await store.get<LocalCaRecord>(keys.localCa());
    if (entry === undefined) {
      throw new NearbyError('LOCAL_CA_MISSING', 'the local CA does not exist yet', {
        status: 404,
        hint: 'it is created when `nearby server` starts',
      });
    }
    const { cert_pem, path, host } = entry.value;
    return { cert_pem, path, host };
  });
}
