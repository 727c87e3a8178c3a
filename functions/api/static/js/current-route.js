// Which page the address asks for.

import { STATUS_WORDS } from './format.js';

export function currentRoute() {
  const [path, query = ''] = window.location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'districts' || !parts[1]) return {};
  // `#/districts/{id}?status=on_hold`: the hold e-mail's link to every school on hold opens the list filtered
  const status = new URLSearchParams(query).get('status');
  return { districtId: parts[1], schoolId: parts[2] === 'schools' ? parts[3] : undefined, syncs: parts[2] === 'syncs', settings: parts[2] === 'settings', status: status in STATUS_WORDS ? status : undefined };
}
