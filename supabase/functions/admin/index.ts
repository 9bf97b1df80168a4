import { createAdminFunction } from '../../../functions/admin/index.ts';
import { createEdgeRuntime } from '../../../functions/_shared/runtime/index.ts';
import { app } from '../../../functions/_app/index.ts';

Deno.serve(createAdminFunction(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
