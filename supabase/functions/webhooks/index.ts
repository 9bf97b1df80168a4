import { createWebhooksFunction } from '../../../functions/webhooks/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createWebhooksFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
