import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import {
  createSecretBox,
  MissingEncryptionKeyError,
  newSigningSecret,
  SecretUnreadableError,
} from './secrets.ts';

const key = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

describe('signing secrets', () => {
  it("are Standard Webhooks' whsec_ secrets of 32 random bytes", () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newSigningSecret()).not.toBe(secret);
    const signed = new Webhook(secret).sign('msg_1', new Date(), '{}');
    expect(new Webhook(secret).verify('{}', {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': signed,
    })).toEqual({});
  });
});

describe('the secret box', () => {
  it('seals so that only the configured keys open, without the secret in the text', async () => {
    const box = createSecretBox([key()]);
    const secret = newSigningSecret();
    const sealed = await box.seal(secret);
    expect(sealed).not.toContain(secret.slice(6));
    expect(sealed).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(await box.open(sealed)).toBe(secret);
    // The same secret sealed twice differs (a fresh nonce each time).
    expect(await box.seal(secret)).not.toBe(sealed);
  });

  it('opens what an older key sealed after a key rotation, and seals with the newest', async () => {
    const old = key();
    const sealedBefore = await createSecretBox([old]).seal('whsec_before');
    const rotated = createSecretBox([key(), old]);
    expect(await rotated.open(sealedBefore)).toBe('whsec_before');
    const sealedAfter = await rotated.seal('whsec_after');
    await expect(createSecretBox([old]).open(sealedAfter)).rejects.toThrow(SecretUnreadableError);
  });

  it('refuses altered text and missing keys', async () => {
    const box = createSecretBox([key()]);
    const sealed = await box.seal('whsec_x');
    const parts = sealed.split('.');
    const body = parts[3]!;
    parts[3] = (body[0] === 'A' ? 'B' : 'A') + body.slice(1);
    await expect(box.open(parts.join('.'))).rejects.toThrow(SecretUnreadableError);
    await expect(box.open('v1.deadbeef.AAAA.AAAA')).rejects.toThrow(SecretUnreadableError);
    await expect(createSecretBox([]).seal('whsec_x')).rejects.toThrow(MissingEncryptionKeyError);
    await expect(createSecretBox([]).open(sealed)).rejects.toThrow(MissingEncryptionKeyError);
  });
});
