import { h, mount } from '../shared/dom.ts';
import type { View } from './context.ts';
import { rideForm } from './rides.ts';
import { formatCoordinates, mapsLink, parseShared, pickupText } from './share.ts';

/**
 * The Web Share Target (`/app/share?title=&text=&url=`, the manifest's `share_target`): a
 * shared Google Maps link or coordinates become the pickup of a ride the user then requests
 * (the drop-off is theirs to say: the API needs one, and a link alone never books a ride).
 */
export const shareView: View = (ctx, main, query) => {
  const shared = {
    title: query.get('title'),
    text: query.get('text'),
    url: query.get('url'),
  };
  const result = parseShared(shared);
  const what = [shared.title, shared.text, shared.url].filter(Boolean).join('\n');

  if (!result.ok) {
    mount(
      main,
      h('h1', { tabindex: '-1' }, 'No place to pick you up from'),
      h('p', { class: 'error', role: 'alert', id: 'share-error' }, result.reason),
      what ? h('p', null, 'What was shared:') : null,
      what ? h('pre', { class: 'shared' }, what) : null,
      h('p', null, h('a', { href: '/app/' }, 'Back to my rides')),
    );
    return;
  }

  const { place } = result;
  const { form, dropoff } = rideForm(ctx, {
    idPrefix: 'share',
    pickup: pickupText(place),
    onCreated: (ride) => {
      ctx.flash(`Ride requested: ${ride.pickup} → ${ride.dropoff}.`);
      // The shared link is used up: a reload shows the rides, not the form again.
      ctx.navigate('/app/', { replace: true });
    },
  });
  main.append(
    h('h1', { tabindex: '-1' }, 'Request a ride from here'),
    h(
      'p',
      { id: 'share-place' },
      'Pickup: ',
      h('strong', null, place.label ?? formatCoordinates(place)),
      place.label ? ` (${formatCoordinates(place)})` : null,
      ' · ',
      h(
        'a',
        { href: mapsLink(place), target: '_blank', rel: 'noopener noreferrer' },
        'see it on a map',
      ),
    ),
    h('p', null, 'Say where you are going, then request the ride.'),
    form,
  );
  queueMicrotask(() => dropoff.focus());
};
