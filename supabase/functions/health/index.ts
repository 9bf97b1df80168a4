import { createHealthFunction } from '../../../functions/health/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';

Deno.serve(createHealthFunction(createEdgeRuntime(Deno.env.toObject())).fetch);
