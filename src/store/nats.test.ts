import { after, before } from 'node:test';
import { type NatsCluster, startNatsCluster } from '../../test/helpers/nats.ts';
import { storeContract } from '../../test/helpers/store-contract.ts';
import { NatsStore } from './nats.ts';
import type { Store } from './types.ts';

let cluster: NatsCluster;
const open: Store[] = [];
before(async () => {
  cluster = await startNatsCluster();
});
after(async () => {
  await Promise.all(open.map((store) => store.close().catch(() => {})));
  await cluster?.stop();
});

storeContract('nats', async ({ name, streamSize }) => {
  const store = await NatsStore.open({ servers: cluster.urls, prefix: name, streamSize });
  open.push(store);
  return store;
});
