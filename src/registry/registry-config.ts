/** The docker-registry (distribution 2.8) config nearby runs it with: filesystem storage, token auth. */
export interface RegistryConfigOptions {
  listen: string;
  storageDir: string;
  /** The token service URL the registry sends clients to (`auth.token.realm`). */
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Signs upload state between requests; kept across restarts so uploads in flight survive. */
  httpSecret: string;
}

export function registryConfigYaml(options: RegistryConfigOptions): string {
  const quote = (value: string) => JSON.stringify(value);
  return [
    '# Written by nearby server at each start; edits are overwritten.',
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${quote(options.storageDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${quote(options.listen)}`,
    `  secret: ${quote(options.httpSecret)}`,
    'auth:',
    '  token:',
    `    realm: ${quote(options.realm)}`,
    `    service: ${quote(options.service)}`,
    `    issuer: ${quote(options.issuer)}`,
    `    rootcertbundle: ${quote(options.rootCertBundle)}`,
    '',
  ].join('\n');
}
