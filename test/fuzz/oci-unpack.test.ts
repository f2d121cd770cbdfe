import { fuzzTest } from './fuzz-test.ts';
import { ociUnpackTarget } from './targets/oci-unpack.ts';

fuzzTest(ociUnpackTarget);
