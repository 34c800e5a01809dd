// The arena bench world as a module the cluster simulator loads (`P3_WORLD_MODULE`): the world `p3-arena-server.ts`
// runs in the single-process server, so `p3` and `p3-cluster` simulate the same rooms. The built simulator runs under
// plain `node`: `arena-cluster.ts` bundles this file into a `.mjs` next to the build.
import { defineWorld } from '@p3/engine';
import { arenaBenchSchema } from './arena-schema.js';

export default defineWorld({ schema: arenaBenchSchema });
