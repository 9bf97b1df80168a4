import { createHealthApp } from '../../../functions/health/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';

Deno.serve(createHealthApp(createEdgeRuntime(Deno.env.toObject())).fetch);
