import { createWorkerFunction } from '../../../functions/worker/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';

Deno.serve(createWorkerFunction(createEdgeRuntime(Deno.env.toObject())).fetch);
