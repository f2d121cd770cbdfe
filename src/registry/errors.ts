/** Errors of nearby's registry (the docker-registry child and its token service), with API statuses. */
import { NearbyError } from '../errors.ts';

export const registryErrors = {
  noCredentials: () =>
    new NearbyError('REGISTRY_CREDENTIALS_MISSING', 'the registry token service needs credentials', {
      status: 401,
      hint: 'log in with any user name and a nearby API token as the password (e.g. x:$NEARBY_API_TOKEN)',
    }),
  keyFailed: (what: string, detail: string) =>
    new NearbyError('REGISTRY_KEY_FAILED', `could not ${what} the registry's token-signing key: ${detail}`, {
      hint: 'check that openssl is installed (scripts/setup.sh installs it) and the data dir is writable',
    }),
  listenInvalid: (listen: string) =>
    new NearbyError(
      'REGISTRY_LISTEN_INVALID',
      `--registry-listen: expected HOST:PORT (e.g. 127.0.0.1:5050) or off, got '${listen}'`,
      { status: 400, hint: 'see `nearby server --help`' },
    ),
};
