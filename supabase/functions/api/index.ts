import { createApiFunction } from '../../../functions/api/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createApiFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
