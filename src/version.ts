/** nearby's version, from package.json: what `nearby version` prints and HAProxy's config names. */
import packageJson from '../package.json' with { type: 'json' };

export const nearbyVersion: string = packageJson.version;
