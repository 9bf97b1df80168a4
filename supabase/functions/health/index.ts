import { createHealthFunction } from '../../../functions/health/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createHealthFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
