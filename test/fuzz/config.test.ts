import { fuzzTest } from './fuzz-test.ts';
import { configTarget } from './targets/config.ts';

fuzzTest(configTarget);
