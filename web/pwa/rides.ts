import { h, when } from '../shared/dom.ts';
import { newKey, type Ride } from './api.ts';
import type { AppContext, View } from './context.ts';
import { field, money, pagedList, submitting } from './ui.ts';

const STATUS: Record<Ride['status'], string> = {
  requested: 'Requested',
  accepted: 'Driver on the way',
  in_progress: 'On the road',
  completed: 'Completed',
  cancelled: 'Cancelled',
};

export function rideItem(ride: Ride): HTMLLIElement {
  const fare = money(ride.fare_cents, ride.currency);
  return h(
    'li',
    { class: 'ride', tabindex: '-1', 'data-id': ride.id },
    h(
      'p',
      { class: 'route' },
      h('span', null, ride.pickup),
      h('span', { 'aria-hidden': 'true' }, ' → '),
      h('span', { class: 'visually-hidden' }, ' to '),
      h('span', null, ride.dropoff),
    ),
    h(
      'p',
      { class: 'meta' },
      h('span', { class: `badge ${ride.status}` }, STATUS[ride.status] ?? ride.status),
      ' ',
      h('time', { datetime: ride.created_at }, when(ride.created_at)),
      fare ? ` · ${fare}` : null,
    ),
  );
}

/**
 * The form that requests a ride. One Idempotency-Key per request: a retry of the same
 * pickup and drop-off (a lost answer on a bad connection) sends the same key, so the API
 * books one ride; a changed request gets a new key.
 */
export function rideForm(
  ctx: AppContext,
  options: { pickup?: string; idPrefix: string; onCreated(ride: Ride): void },
): { form: HTMLFormElement; pickup: HTMLInputElement; dropoff: HTMLInputElement } {
  const input = (name: string, value = '') =>
    h('input', {
      id: `${options.idPrefix}-${name}`,
      name,
      type: 'text',
      required: true,
      maxLength: 200,
      autocomplete: 'off',
      value,
    });
  const pickup = field('Pickup', input('pickup', options.pickup), 'Where the driver meets you');
  const dropoff = field('Drop-off', input('dropoff'), 'Where you are going');
  const error = h('p', { class: 'form-error', role: 'alert', id: `${options.idPrefix}-error` });
  const form = h(
    'form',
    { class: 'card', 'aria-describedby': error.id },
    pickup.wrap,
    dropoff.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Request ride'),
    error,
  );
  let key: { key: string; for: string } | null = null;
  submitting(form, error, async () => {
    const body = { pickup: pickup.input.value.trim(), dropoff: dropoff.input.value.trim() };
    const fingerprint = JSON.stringify(body);
    if (key?.for !== fingerprint) key = { key: newKey(), for: fingerprint };
    const ride = await ctx.api.post<Ride>('/rides', body, key.key);
    key = null;
    options.onCreated(ride);
  }, { pickup: pickup.input, dropoff: dropoff.input });
  return { form, pickup: pickup.input, dropoff: dropoff.input };
}

/** My rides: request one, and the rides as passenger or driver, newest first. */
export const ridesView: View = (ctx, main) => {
  const flash = ctx.takeFlash();
  const notice = h('p', { class: 'notice', role: 'status' }, flash ?? '');
  const listBox = h('div', { class: 'list' });
  const list = pagedList<Ride>(ctx, listBox, {
    path: '/rides',
    label: 'Your rides',
    noun: 'your rides',
    item: rideItem,
    empty: 'No rides yet. Request one above, or share a place from Google Maps to this app.',
  });
  const { form } = rideForm(ctx, {
    idPrefix: 'ride',
    onCreated: (ride) => {
      notice.textContent = `Ride requested: ${ride.pickup} → ${ride.dropoff}.`;
      form.reset();
      void list.reload(true);
    },
  });
  main.append(
    h('h1', { tabindex: '-1' }, 'My rides'),
    notice,
    h(
      'details',
      { class: 'request' },
      h('summary', null, 'Request a ride'),
      form,
    ),
    h('h2', null, 'Your rides'),
    listBox,
  );
  void list.reload();
  ctx.onRefresh(() => void list.reload(true));
  return () => list.stop();
};
