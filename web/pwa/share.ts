/**
 * What the Web Share Target (`/app/share?title=&text=&url=`) received, read as a place: a
 * Google Maps link, a `geo:` URI or plain coordinates become a latitude and longitude. Pure
 * (no DOM, no network), so it is unit-tested on its own (tests/pwa-share.test.ts).
 */

export interface SharedInput {
  readonly title?: string | null;
  readonly text?: string | null;
  readonly url?: string | null;
}

export interface Place {
  /** Degrees north, -90..90, at most 6 decimals (about 11 cm). */
  readonly lat: number;
  /** Degrees east, -180..180, at most 6 decimals. */
  readonly lng: number;
  /** A name the link carried (a Google Maps place, a `geo:` label), if any. */
  readonly label: string | null;
}

export type ShareResult =
  | { readonly ok: true; readonly place: Place }
  | { readonly ok: false; readonly reason: string };

/** Longest text of one field that is looked at: a share is a link and a line or two. */
const MAX_FIELD = 2_000;
/** What a ride's pickup may hold (the API's limit). */
export const MAX_PICKUP = 200;

const NOTHING =
  'No place was found in what was shared. Share a Google Maps link, or coordinates such as ' +
  '-1.2921, 36.8219.';
const SHORT_LINK = 'Short Google Maps links (maps.app.goo.gl) do not say where they point, so ' +
  'they cannot be read here. In Google Maps, drop a pin and share or copy its coordinates ' +
  '(such as -1.2921, 36.8219).';

class OutOfRange extends Error {}

/** A number pair as written in a link or a text, checked against the globe. */
function coordinates(latText: string, lngText: string): { lat: number; lng: number } {
  const lat = Number(latText);
  const lng = Number(lngText);
  if (!Number.isFinite(lat) || !Number.isFinite(lng) || Math.abs(lat) > 90 || Math.abs(lng) > 180) {
    throw new OutOfRange(
      `${latText}, ${lngText} are not coordinates: latitude goes from -90 to 90 and ` +
        'longitude from -180 to 180.',
    );
  }
  // `+ 0` turns -0 into 0.
  return { lat: Number(lat.toFixed(6)) + 0, lng: Number(lng.toFixed(6)) + 0 };
}

const NUMBER = String.raw`[-+]?\d{1,3}(?:\.\d+)?`;
/** `lat,lng` and nothing else (a query value: `-1.29,36.82`, `loc:-1.29 36.82`). */
const PAIR = new RegExp(String.raw`^(?:loc:)?\s*(${NUMBER})\s*[,\s]\s*(${NUMBER})\s*$`);

/** A query or path value that is exactly a coordinate pair. */
function pairOf(value: string | null | undefined): { lat: number; lng: number } | null {
  if (!value) return null;
  const match = PAIR.exec(value.replaceAll('+', ' '));
  return match ? coordinates(match[1]!, match[2]!) : null;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return part;
  }
}

function cleanLabel(text: string | null | undefined): string | null {
  const label = text?.replace(/\s+/g, ' ').trim();
  return label ? label.slice(0, 120) : null;
}

function isGoogleMaps(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (/^maps\.google\.[a-z.]+$/.test(host)) return true;
  return /^(?:www\.)?google\.[a-z.]+$/.test(host) && url.pathname.startsWith('/maps');
}

/** A Google Maps link: the place's pin, the query, or else the map's centre. */
function fromGoogleMaps(url: URL): Place | null {
  const path = decode(url.pathname);
  const placeName = /\/maps\/place\/([^/]+)/.exec(url.pathname)?.[1];
  const named = placeName && !pairOf(decode(placeName)) ? cleanLabel(decode(placeName)) : null;
  // `!3d<lat>!4d<lng>` in the data segment: where the place itself is.
  const pin = new RegExp(String.raw`!3d(${NUMBER})!4d(${NUMBER})`).exec(path);
  if (pin) return { ...coordinates(pin[1]!, pin[2]!), label: named };
  for (const key of ['q', 'query', 'll', 'center', 'destination', 'daddr', 'sll']) {
    const pair = pairOf(url.searchParams.get(key));
    if (pair) return { ...pair, label: named };
  }
  // `/maps/place/-1.29,36.82` or `/maps/search/-1.29,+36.82`.
  const segment = /\/maps\/(?:place|search|dir\/[^/]*)\/([^/]+)/.exec(url.pathname)?.[1];
  const inPath = pairOf(segment ? decode(segment) : null);
  if (inPath) return { ...inPath, label: null };
  // `@lat,lng,15z`: the centre of the map being looked at.
  const at = new RegExp(String.raw`/@(${NUMBER}),(${NUMBER})(?:,|$)`).exec(path);
  if (at) return { ...coordinates(at[1]!, at[2]!), label: named };
  return null;
}

/** Apple Maps and OpenStreetMap links, which also carry their coordinates. */
function fromOtherMaps(url: URL): Place | null {
  const host = url.hostname.toLowerCase();
  if (host === 'maps.apple.com') {
    for (const key of ['ll', 'q', 'daddr', 'sll']) {
      const pair = pairOf(url.searchParams.get(key));
      if (pair) return { ...pair, label: null };
    }
  }
  if (host === 'openstreetmap.org' || host.endsWith('.openstreetmap.org') || host === 'osm.org') {
    const lat = url.searchParams.get('mlat');
    const lng = url.searchParams.get('mlon');
    if (lat && lng) return { ...coordinates(lat, lng), label: null };
    const map = new RegExp(String.raw`map=\d+/(${NUMBER})/(${NUMBER})`).exec(url.hash);
    if (map) return { ...coordinates(map[1]!, map[2]!), label: null };
  }
  return null;
}

/**
 * A `geo:` URI (RFC 5870): `geo:-1.29,36.82`, `geo:-1.29,36.82;u=35`, and Android's
 * `geo:0,0?q=-1.29,36.82(Label)`.
 */
function fromGeoUri(uri: string): Place | null {
  const [head = '', query = ''] = uri.slice(4).split('?', 2);
  const q = new URLSearchParams(query).get('q');
  if (q) {
    const labelled = /^([^()]*)\((.*)\)\s*$/.exec(q);
    const pair = pairOf(labelled ? labelled[1] : q);
    if (pair) return { ...pair, label: cleanLabel(labelled?.[2]) };
  }
  const [lat, lng] = (head.split(';')[0] ?? '').split(',');
  if (lat === undefined || lng === undefined) return null;
  if (!new RegExp(`^${NUMBER}$`).test(lat.trim()) || !new RegExp(`^${NUMBER}$`).test(lng.trim())) {
    return null;
  }
  const place = coordinates(lat.trim(), lng.trim());
  // `geo:0,0?q=<an address>`: Android's way of saying "no coordinates, search for this".
  if (place.lat === 0 && place.lng === 0 && q) return null;
  return { ...place, label: null };
}

const LINK = /\b(?:https?:\/\/|geo:)[^\s<>"']+/gi;
/** `-1.2921, 36.8219` in running text: both numbers with decimals, so "10, 20" is not one. */
const TEXT_PAIR = new RegExp(
  String.raw`(?<![\d.])([-+]?\d{1,3}\.\d+)\s*[,;]\s*([-+]?\d{1,3}\.\d+)(?![\d.])`,
);
/** `1.2921° S, 36.8219° E` (or without the degree sign). */
const HEMISPHERES =
  /(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*°?\s*([NS])\b[\s,;]*(\d{1,3}(?:\.\d+)?)\s*°?\s*([EW])\b/i;

function fromText(text: string): { lat: number; lng: number } | null {
  const hemispheres = HEMISPHERES.exec(text);
  if (hemispheres) {
    const [, lat, ns, lng, ew] = hemispheres;
    return coordinates(
      `${ns!.toUpperCase() === 'S' ? '-' : ''}${lat}`,
      `${ew!.toUpperCase() === 'W' ? '-' : ''}${lng}`,
    );
  }
  const pair = TEXT_PAIR.exec(text);
  return pair ? coordinates(pair[1]!, pair[2]!) : null;
}

/** The title when it reads as a name (not a link, not the coordinates themselves). */
function titleLabel(title: string | null | undefined): string | null {
  if (!title || /(?:https?:\/\/|geo:)/i.test(title) || TEXT_PAIR.test(title)) return null;
  return cleanLabel(title);
}

/**
 * Reads a share as a place. Links come first (the `url` field, then links inside `text` and
 * `title`), then coordinates written in the text. Answers why not when nothing fits: a short
 * link that hides its target, numbers off the globe, or no place at all.
 */
export function parseShared(input: SharedInput): ShareResult {
  const fields = [input.url, input.text, input.title]
    .map((field) => (field ?? '').slice(0, MAX_FIELD).trim())
    .filter(Boolean);
  let reason: string | null = null;
  const attempt = (read: () => Place | null): Place | null => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof OutOfRange)) throw error;
      reason ??= error.message;
      return null;
    }
  };
  const label = titleLabel(input.title);

  for (const field of fields) {
    for (const [link] of field.matchAll(LINK)) {
      const place = attempt(() => {
        if (/^geo:/i.test(link)) return fromGeoUri(link);
        let url: URL;
        try {
          url = new URL(link.replace(/[).,;!?]+$/, ''));
        } catch {
          return null;
        }
        if (isGoogleMaps(url)) return fromGoogleMaps(url);
        if (/^(?:maps\.app\.goo\.gl|goo\.gl)$/i.test(url.hostname)) reason ??= SHORT_LINK;
        return fromOtherMaps(url);
      });
      if (place) return { ok: true, place: { ...place, label: place.label ?? label } };
    }
  }
  for (const field of fields) {
    const place = attempt(() => {
      const pair = fromText(field.replace(LINK, ' '));
      return pair ? { ...pair, label: null } : null;
    });
    if (place) return { ok: true, place: { ...place, label } };
  }
  return { ok: false, reason: reason ?? NOTHING };
}

/** The coordinates as people write them: `-1.2921, 36.8219`. */
export function formatCoordinates(place: Pick<Place, 'lat' | 'lng'>): string {
  return `${place.lat}, ${place.lng}`;
}

/** A ride's pickup for a place: `Label (-1.2921, 36.8219)`, within the API's 200 characters. */
export function pickupText(place: Place): string {
  const where = formatCoordinates(place);
  if (!place.label) return where;
  const room = MAX_PICKUP - where.length - 3;
  return `${place.label.slice(0, room).trim()} (${where})`;
}

/** A link that opens the place in Google Maps (any maps app on a phone offers to). */
export function mapsLink(place: Pick<Place, 'lat' | 'lng'>): string {
  return `https://www.google.com/maps/search/?api=1&query=${place.lat},${place.lng}`;
}
