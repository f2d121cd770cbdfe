/** The records every part shares through the store. */
export * from './app.ts';
export * from './keys.ts';
export * from './machine.ts';
