import { fuzzTest } from './fuzz-test.ts';
import { apiBodiesTarget } from './targets/api-bodies.ts';

fuzzTest(apiBodiesTarget);
