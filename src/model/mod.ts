/** The records every part shares through the store. */
export * from './activity.ts';
export * from './app.ts';
export * from './app-event.ts';
export * from './cert.ts';
export * from './cert-request.ts';
export * from './duration.ts';
export * from './host-liveness.ts';
export * from './ids.ts';
export * from './keys.ts';
export * from './lease.ts';
export * from './log-line.ts';
export * from './machine.ts';
export * from './machine-request.ts';
export * from './machine-view.ts';
export * from './release.ts';
export * from './secret.ts';
export * from './volume.ts';
