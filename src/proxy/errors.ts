/** The edge proxy's errors: one factory per failure, each with a stable code and a hint. */
import { NearbyError } from '../errors.ts';

export const haproxyNotFound = (bin: string, cause?: unknown) =>
  new NearbyError('HAPROXY_NOT_FOUND', `HAProxy was not found at ${bin}`, {
    status: 500,
    hint: 'install the Debian package haproxy (2.6 or newer) or pass haproxyBin',
    cause,
  });

export const haproxyConfigInvalid = (path: string, output: string) =>
  new NearbyError('HAPROXY_CONFIG_INVALID', `HAProxy refused the rendered configuration ${path}: ${output}`, {
    status: 500,
    hint: 'this is a bug in nearby: report it with the configuration file',
  });

export const haproxyStartFailed = (reason: string, cause?: unknown) =>
  new NearbyError('HAPROXY_START_FAILED', `HAProxy did not start: ${reason}`, {
    status: 500,
    hint: 'check that the HTTP listen address is free and the data directory is writable',
    cause,
  });

export const haproxyReloadFailed = (reason: string, cause?: unknown) =>
  new NearbyError('HAPROXY_RELOAD_FAILED', `HAProxy did not reload: ${reason}`, { status: 500, cause });

export const runtimeCommandFailed = (command: string, answer: string, cause?: unknown) =>
  new NearbyError('HAPROXY_COMMAND_FAILED', `HAProxy refused "${command}": ${answer.trim() || 'no answer'}`, {
    status: 500,
    cause,
  });

export const proxyStopped = () =>
  new NearbyError('PROXY_STOPPED', 'the edge proxy is stopped', { status: 503, hint: 'start it again' });

export const invalidProxyOption = (name: string, value: string, expected: string) =>
  new NearbyError('PROXY_INVALID_OPTION', `proxy option ${name} is "${value}": expected ${expected}`, {
    status: 400,
    hint: `fix ${name} in the server configuration`,
  });

export const socketPathTooLong = (path: string) =>
  new NearbyError('PROXY_SOCKET_PATH_TOO_LONG', `the HAProxy socket path ${path} is longer than 107 bytes`, {
    status: 500,
    hint: 'use a shorter data directory',
  });

export const defaultCertFailed = (cause: unknown) =>
  new NearbyError('PROXY_DEFAULT_CERT_FAILED', 'could not make the default TLS certificate with openssl', {
    status: 500,
    hint: 'install the Debian package openssl and check that the data directory is writable',
    cause,
  });

export const proxyNoApiToken = (action: string, id: string) =>
  new NearbyError('PROXY_NO_API_TOKEN', `cannot ${action} machine ${id}: this proxy has no API token`, {
    status: 503,
    hint: 'start the proxy with --token-file FILE (or NEARBY_API_TOKEN) holding a token of the API',
  });

export const proxyApiUnreachable = (action: string, id: string, apiUrl: string, cause: unknown) =>
  new NearbyError(
    'PROXY_API_UNREACHABLE',
    `cannot ${action} machine ${id}: the API at ${apiUrl} did not answer`,
    {
      status: 503,
      hint: "check the proxy's --api-url and that the API runs",
      cause,
    },
  );

export const proxyApiRefused = (
  action: string,
  id: string,
  status: number,
  why: string,
  code?: string,
  hint?: string,
) =>
  new NearbyError(code ?? 'PROXY_API_REFUSED', `cannot ${action} machine ${id}: ${why}`, {
    status,
    ...(hint ? { hint } : {}),
  });

export const backhaulCredentialUnreadable = (files: string, cause?: unknown) =>
  new NearbyError(
    'PROXY_BACKHAUL_CREDENTIAL',
    `the backhaul credential (${files}) is not readable PEM: a certificate with its key, and the cluster's CA`,
    {
      status: 500,
      hint: 'give the proxy the cluster credential files: --backhaul-cert (and --backhaul-key) and --backhaul-ca (docs/proxy.md, "Routing across hosts")',
      cause,
    },
  );
