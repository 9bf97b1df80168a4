import { createWorkerFunction } from '../../../functions/worker/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createWorkerFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
