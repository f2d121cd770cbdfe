import { fuzzTest } from './fuzz-test.ts';
import { dnsResolverTarget } from './targets/dns-resolver.ts';

fuzzTest(dnsResolverTarget);
