import { createWebhooksFunction } from '../../../functions/webhooks/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';

Deno.serve(createWebhooksFunction(createEdgeRuntime(Deno.env.toObject())).fetch);
