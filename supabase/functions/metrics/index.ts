import { createMetricsFunction } from '../../../functions/metrics/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createMetricsFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
