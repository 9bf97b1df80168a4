/**
 * The requests the fault suite's load generator sends: one descriptor per provider (its
 * route, a signed delivery numbered `n`, a wrong signature), walked by `deliveryBuilder`.
 * Payloads and signatures come from the project's webhook test support, so the generator
 * speaks exactly what the intake tests speak. Runs under Deno (the generator) and Node.
 */
import { whatsappNotification } from '../../../functions/_shared/webhooks/whatsapp/notification.ts';
import { signStripe, signWhatsApp } from '../../../functions/_shared/webhooks/signing.ts';
import type { LoadProvider, LoadSpec, SignedTraffic } from './load-spec.ts';

/** One request: its event key, headers (besides host and length) and body. */
export interface Delivery {
  readonly key: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

interface ProviderDescriptor {
  readonly path: string;
  /** Event key and JSON body of delivery `n` (`n` is 0 for every request in duplicate mode). */
  event(n: number, traffic: SignedTraffic, run: string): { key: string; body: string };
  sign(body: string, secret: string): Record<string, string>;
  /** A signature header in the provider's format that matches no secret. */
  wrongSignature(): Record<string, string>;
  /** JSON that a big unsigned body starts with, so it looks like the provider's. */
  readonly bigBodyPrefix: string;
}

export const DEFAULT_SENDERS = 10_000;
export const DEFAULT_BUSINESS_NUMBERS = 1_000;
const ZEROS = '0'.repeat(64);
const nowSeconds = () => Math.floor(Date.now() / 1000);

const PROVIDERS: Record<LoadProvider, ProviderDescriptor> = {
  whatsapp: {
    path: '/functions/v1/webhooks/whatsapp',
    event(n, traffic, run) {
      const key = `wamid.fault.${run}.${n}`;
      const sender = `1555${String(n % (traffic.senders ?? DEFAULT_SENDERS)).padStart(7, '0')}`;
      const number = `PNID-${n % (traffic.businessNumbers ?? DEFAULT_BUSINESS_NUMBERS)}`;
      const body = whatsappNotification([{ id: key, from: sender, text: `fault ${n}` }], {
        phoneNumberId: number,
      });
      return { key, body };
    },
    sign: signWhatsApp,
    wrongSignature: () => ({ 'X-Hub-Signature-256': `sha256=${ZEROS}` }),
    bigBodyPrefix: '{"object":"whatsapp_business_account","entry":[],"padding":"',
  },
  stripe: {
    path: '/functions/v1/webhooks/stripe',
    event(n, _traffic, run) {
      const key = `evt_fault_${run}_${n}`;
      // The fields the intake reads (id, type) plus the envelope Stripe always sends.
      const body = JSON.stringify({
        id: key,
        object: 'event',
        type: 'payment_intent.succeeded',
        created: nowSeconds(),
        data: { object: { id: `pi_fault_${n}`, object: 'payment_intent' } },
      });
      return { key, body };
    },
    // Signed when built; Stripe's 300 s tolerance is far beyond a scenario's minute.
    sign: (body, secret) => signStripe(body, secret, nowSeconds()),
    wrongSignature: () => ({ 'Stripe-Signature': `t=${nowSeconds()},v1=${ZEROS}` }),
    bigBodyPrefix: '{"id":"evt_big","object":"event","type":"charge.succeeded","padding":"',
  },
};

const encoder = new TextEncoder();

/** The route of `spec`'s provider unless the spec names one. */
export function deliveryPath(spec: Pick<LoadSpec, 'provider' | 'path'>): string {
  return spec.path ?? PROVIDERS[spec.provider].path;
}

/**
 * A function from request number to the request to send, for `spec`'s provider and traffic.
 * Duplicate mode builds its one delivery once; big bodies share one buffer.
 *
 * @example
 * ```ts
 * const next = deliveryBuilder({ provider: 'whatsapp', run: 'r1',
 *   traffic: { kind: 'signed', secret: 'app-secret' } });
 * const { key, headers, body } = next(0); // key 'wamid.fault.r1.0', signed headers
 * ```
 */
export function deliveryBuilder(
  spec: Pick<LoadSpec, 'provider' | 'traffic' | 'run'>,
): (n: number) => Delivery {
  const provider = PROVIDERS[spec.provider];
  const traffic = spec.traffic;
  const json = { 'content-type': 'application/json' };
  if (traffic.kind === 'unsigned-big') {
    const body = paddedBody(provider.bigBodyPrefix, traffic.bodyBytes);
    const headers = traffic.signature === 'wrong'
      ? { ...json, ...provider.wrongSignature() }
      : json;
    return (n) => ({ key: `big.${spec.run}.${n}`, headers, body });
  }
  const build = (n: number): Delivery => {
    const { key, body } = provider.event(n, traffic, spec.run);
    return {
      key,
      headers: { ...json, ...provider.sign(body, traffic.secret) },
      body: encoder.encode(body),
    };
  };
  if (traffic.duplicate) {
    const one = build(0);
    return () => one;
  }
  return build;
}

/** `bytes` bytes: the prefix, `a` padding and a closing `"}` (plain padding when too small). */
function paddedBody(prefix: string, bytes: number): Uint8Array {
  const body = new Uint8Array(bytes).fill(0x61);
  const head = encoder.encode(prefix);
  if (bytes < head.length + 2) return body;
  body.set(head);
  body.set(encoder.encode('"}'), bytes - 2);
  return body;
}
