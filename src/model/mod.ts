/** The records every part shares through the store. */
export * from './app.ts';
export * from './duration.ts';
export * from './ids.ts';
export * from './keys.ts';
export * from './log-line.ts';
export * from './machine.ts';
export * from './machine-view.ts';
