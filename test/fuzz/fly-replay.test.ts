import { fuzzTest } from './fuzz-test.ts';
import { flyReplayTarget } from './targets/fly-replay.ts';

fuzzTest(flyReplayTarget);
