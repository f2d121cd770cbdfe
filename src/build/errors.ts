/** Errors of Dockerfile builds (`src/build`): stable codes, messages that say what to do. */
import { NearbyError } from '../errors.ts';

export const buildErrors = {
  buildahMissing: () =>
    new NearbyError('BUILDAH_MISSING', 'building a Dockerfile needs buildah, which is not installed here', {
      hint: 'install it (`apt-get install buildah`; scripts/setup.sh does), or deploy an image built elsewhere with --image',
    }),
  buildFailed: (code: number | null, lastLines: string) =>
    new NearbyError(
      'BUILD_FAILED',
      `the image build failed (buildah exited with ${code ?? 'a signal'})${lastLines ? `:\n${lastLines}` : ''}`,
      { hint: 'fix the Dockerfile step shown above, then run `nearby deploy` again' },
    ),
  pushFailed: (target: string, code: number | null, lastLines: string) =>
    new NearbyError(
      'PUSH_FAILED',
      `pushing the built image to ${target} failed (buildah exited with ${code ?? 'a signal'})${lastLines ? `:\n${lastLines}` : ''}`,
      {
        hint: 'check that `nearby server` runs its registry (--registry-listen) and the token may push to this app',
      },
    ),
  dockerfileMissing: (path: string) =>
    new NearbyError('DOCKERFILE_NOT_FOUND', `no Dockerfile at ${path}`, {
      hint: 'fix `dockerfile` under [build], or deploy an image with --image',
    }),
  builderNotSupported: (what: string) =>
    new NearbyError(
      'BUILDER_NOT_SUPPORTED',
      `[build] ${what} is not supported yet: nearby builds Dockerfiles`,
      {
        hint: 'add a Dockerfile (and remove the builder keys from [build]), or deploy an image with --image',
      },
    ),
  noRegistry: (apiUrl: string) =>
    new NearbyError(
      'REGISTRY_NOT_RUNNING',
      `the nearby server at ${apiUrl} runs no registry to push builds to`,
      {
        hint: 'start the server with --registry-listen HOST:PORT (it is on by default), or deploy with --image',
      },
    ),
};
