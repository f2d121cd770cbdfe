/** The records every part shares through the store. */
export * from './app.ts';
export * from './keys.ts';
export * from './machine.ts';

export * from "./ids.ts";
export * from "./machine-view.ts";
export * from "./duration.ts";
export * from "./log-line.ts";
