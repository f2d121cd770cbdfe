/**
 * Parses image references the way Docker does: `hello` is `registry-1.docker.io/library/hello:latest`,
 * `127.0.0.1:5000/hello:1`, `ghcr.io/a/b@sha256:…`, and tag plus digest (the digest wins).
 */
import { imageRefInvalid } from './errors.ts';

export const DOCKER_HUB = 'registry-1.docker.io';

export interface ParsedReference {
  /** Host and optional port, docker.io normalised to registry-1.docker.io. */
  registry: string;
  repository: string;
  /** `latest` when neither a tag nor a digest is given; empty when only a digest is. */
  tag: string;
  /** `sha256:<hex>` or empty. */
  digest: string;
}

const componentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function parseReference(reference: string): ParsedReference {
  const input = reference.trim();
  if (input === '') throw imageRefInvalid(reference, 'it is empty');
  if (input.length > 512) throw imageRefInvalid(reference, 'it is longer than 512 characters');

  let rest = input;
  let digest = '';
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) {
      throw imageRefInvalid(
        reference,
        `"${digest}" is not a sha256 digest (sha256: and 64 lowercase hex digits)`,
      );
    }
  }

  let tag = '';
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagPattern.test(tag)) throw imageRefInvalid(reference, `"${tag}" is not a valid tag`);
  }

  let registry = 'docker.io';
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash !== -1) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      path = rest.slice(firstSlash + 1);
      if (!hostPattern.test(registry))
        throw imageRefInvalid(reference, `"${registry}" is not a valid registry host`);
    }
  }
  if (path === '') throw imageRefInvalid(reference, 'the repository name is missing');
  for (const component of path.split('/')) {
    if (!componentPattern.test(component)) {
      throw imageRefInvalid(
        reference,
        `repository component "${component}" must be lowercase letters, digits and single separators (. _ __ -)`,
      );
    }
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = DOCKER_HUB;
    if (!path.includes('/')) path = `library/${path}`;
  }
  if (tag === '' && digest === '') tag = 'latest';
  return { registry, repository: path, tag, digest };
}

/** `registry/repository:tag@digest`, leaving out what is empty. */
export function formatReference(ref: {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Loopback registries (127.0.0.0/8, ::1, localhost) may be spoken to over plain HTTP. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registryHost(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The host part of `host:port` or `[v6]:port`, without brackets. */
export function registryHost(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}
