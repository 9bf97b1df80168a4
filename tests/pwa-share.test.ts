import { describe, expect, it } from 'vitest';
import { mapsLink, parseShared, pickupText, type ShareResult } from '../web/pwa/share.ts';

function place(result: ShareResult) {
  if (!result.ok) throw new Error(`expected a place, got: ${result.reason}`);
  return result.place;
}

describe('the PWA share target reads a shared place', () => {
  it.each([
    ['https://maps.google.com/?q=-1.2921,36.8219', -1.2921, 36.8219],
    ['https://www.google.com/maps/@-1.2921,36.8219,15z', -1.2921, 36.8219],
    ['https://www.google.com/maps/@-1.2921,36.8219,15z?entry=ttu', -1.2921, 36.8219],
    ['https://www.google.com/maps/search/?api=1&query=-1.2921,36.8219', -1.2921, 36.8219],
    ['https://www.google.com/maps?q=loc:-1.2921+36.8219', -1.2921, 36.8219],
    ['https://www.google.co.ke/maps/place/-1.2921,36.8219', -1.2921, 36.8219],
    ['https://www.google.com/maps/search/-1.2921,+36.8219?entry=tts', -1.2921, 36.8219],
    ['https://maps.google.com/maps?ll=40.7128,-74.006&z=12', 40.7128, -74.006],
    ['geo:-1.29,36.82', -1.29, 36.82],
    ['geo:-1.29,36.82;u=35', -1.29, 36.82],
    ['geo:0,0?q=-1.2921,36.8219(Kencom)', -1.2921, 36.8219],
    ['-1.2921, 36.8219', -1.2921, 36.8219],
    ['-1.2921,36.8219', -1.2921, 36.8219],
    ['Meet me at -1.2921, 36.8219 by the gate', -1.2921, 36.8219],
    ['1.2921° S, 36.8219° E', -1.2921, 36.8219],
    ['https://maps.apple.com/?ll=-1.2921,36.8219&q=Dropped%20Pin', -1.2921, 36.8219],
    [
      'https://www.openstreetmap.org/?mlat=-1.2921&mlon=36.8219#map=17/-1.2921/36.8219',
      -1.2921,
      36.8219,
    ],
    ['https://www.openstreetmap.org/#map=17/-1.29210/36.82190', -1.2921, 36.8219],
  ])('%s', (text, lat, lng) => {
    expect(place(parseShared({ text }))).toMatchObject({ lat, lng });
  });

  it("prefers a place's own pin to the map's centre, and keeps its name", () => {
    const url = 'https://www.google.com/maps/place/Kenyatta+International+Convention+Centre/' +
      '@-1.2886,36.8190,17z/data=!3m1!4b1!4m6!3m5!1s0x182f10d2!8m2!3d-1.2884!4d36.8233!16s';
    expect(place(parseShared({ url }))).toEqual({
      lat: -1.2884,
      lng: 36.8233,
      label: 'Kenyatta International Convention Centre',
    });
  });

  it('takes a place name from /maps/place/<name>/@lat,lng with no pin', () => {
    const url = 'https://www.google.com/maps/place/Nairobi+Railway+Station/@-1.2906,36.8282,17z';
    expect(place(parseShared({ url }))).toEqual({
      lat: -1.2906,
      lng: 36.8282,
      label: 'Nairobi Railway Station',
    });
  });

  it('finds the link inside shared text, and names the place by the title', () => {
    const result = parseShared({
      title: 'Kencom bus stop',
      text: 'Pick me up here: https://maps.google.com/?q=-1.2850,36.8250.',
    });
    expect(place(result)).toEqual({ lat: -1.285, lng: 36.825, label: 'Kencom bus stop' });
  });

  it('reads the label of a geo: URI', () => {
    expect(place(parseShared({ text: 'geo:0,0?q=-1.2921,36.8219(Kencom)' })).label).toBe(
      'Kencom',
    );
  });

  it('looks at url, then text, then title', () => {
    const result = parseShared({
      url: 'https://maps.google.com/?q=1.5,2.5',
      text: '-3.5, 4.5',
      title: 'geo:5.5,6.5',
    });
    expect(place(result)).toMatchObject({ lat: 1.5, lng: 2.5 });
  });

  it('rounds to six decimals', () => {
    expect(place(parseShared({ text: '-1.292123456, 36.821987654' }))).toMatchObject({
      lat: -1.292123,
      lng: 36.821988,
    });
  });

  it.each([
    ['https://maps.google.com/?q=91.5,36.8', /latitude goes from -90 to 90/],
    ['geo:-1.29,181.2', /longitude from -180 to 180/],
    ['-123.5, 36.8', /not coordinates/],
    ['https://maps.app.goo.gl/AbCdEf123', /Short Google Maps links/],
    ['Dropped pin\nhttps://maps.app.goo.gl/AbCdEf123', /Short Google Maps links/],
    ['https://www.google.com/maps?q=Nairobi', /No place was found/],
    ['https://example.com/?q=-1.29,36.82', /No place was found/],
    ['see you at 10, 20 people coming', /No place was found/],
    ['geo:0,0?q=Kenyatta+Avenue', /No place was found/],
    ['', /No place was found/],
  ])('refuses %j with a reason', (text, reason) => {
    const result = parseShared({ text });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('refuses nothing at all', () => {
    expect(parseShared({}).ok).toBe(false);
    expect(parseShared({ title: null, text: null, url: null }).ok).toBe(false);
  });

  it('writes the pickup within the API limit', () => {
    expect(pickupText({ lat: -1.2921, lng: 36.8219, label: null })).toBe('-1.2921, 36.8219');
    expect(pickupText({ lat: -1.2921, lng: 36.8219, label: 'Kencom' })).toBe(
      'Kencom (-1.2921, 36.8219)',
    );
    const long = pickupText({ lat: -1.292123, lng: 36.821987, label: 'x'.repeat(500) });
    expect(long.length).toBeLessThanOrEqual(200);
    expect(long.endsWith('(-1.292123, 36.821987)')).toBe(true);
    expect(mapsLink({ lat: -1.2921, lng: 36.8219 })).toBe(
      'https://www.google.com/maps/search/?api=1&query=-1.2921,36.8219',
    );
  });
});
