// The district page: its header, the connection and pause banners, the school list, matching.

import { actionButton, runAction } from './actions.js';
import { enc, api } from './api.js';
import { reconnect } from './check-clever.js';
import { h, $, setView } from './dom.js';
import { when, statusBadge } from './format.js';
import { renderMatchSection } from './match-schools.js';
import { renderSchoolsSection, refreshSchools } from './school-list.js';
import { renderNav } from './session.js';
import { state } from './state.js';

const DISCONNECTED_CHECKS = [
  'The sis-sync application is still connected to your district in Clever and its access has not been revoked.',
  "Your schools are still shared with the application in Clever's sharing settings.",
  "Your district's Clever sync is not paused or failing.",
];

export function renderBanner(district) {
  if (district.connection !== 'disconnected') return null;
  const error = district.last_error;
  return h('section', { className: 'banner', 'data-testid': 'connection-banner', 'aria-labelledby': 'banner-title' },
    h('h2', { id: 'banner-title' }, h('span', { 'aria-hidden': 'true' }, '✕ '), 'Disconnected: sis-sync cannot connect with Clever'),
    h('p', {}, 'Your Clever sync is on hold: nothing is synced until the connection works again.'),
    error ? h('p', {}, 'The error Clever gave', error.at ? [' (', when(error.at), ')'] : '', ': ',
      h('code', {}, error.message || error.code)) : null,
    h('p', {}, h('strong', {}, 'Check your settings in Clever.'), ' Make sure of the following:'),
    h('ul', {}, DISCONNECTED_CHECKS.map((check) => h('li', {}, check))),
    h('p', {}, "Once you've addressed the above, click I fixed it. sis-sync will attempt to reconnect with Clever and process the sync immediately."),
    actionButton('reconnect', { className: 'primary', 'data-testid': 'i-fixed-it', onclick: () => runAction('reconnect', () => reconnect(district.district_id)) }, 'I fixed it'));
}

// Clever's own pause of the district (summer): polls read and apply nothing until it ends.
function renderPauseBanner(district) {
  const pause = district.clever_pause;
  if (!pause?.paused) return null;
  return h('section', { className: 'banner paused', 'data-testid': 'pause-banner', 'aria-labelledby': 'pause-title' },
    h('h2', { id: 'pause-title' }, 'Clever sync paused', pause.pause_end ? [' until ', when(pause.pause_end)] : ''),
    h('p', {}, 'Clever has paused your district\'s sync (its summer pause). Until it resumes, sis-sync reads no roster data and applies no changes; this is not a connection failure.'),
    h('p', {}, 'The first sync after the pause is held for review when it removes more than your thresholds allow.'));
}

function renderDistrictHeader(district) {
  return [
    h('h1', { 'data-testid': 'district-name' }, district.name),
    h('p', { className: 'meta' }, 'Clever connection: ', statusBadge(district.connection), ' · Last sync: ', when(district.last_sync_at),
      ' · ', h('a', { href: `#/districts/${enc(district.district_id)}/syncs`, 'data-testid': 'sync-history-link' }, 'Sync history'),
      ' · ', h('a', { href: `#/districts/${enc(district.district_id)}/settings`, 'data-testid': 'settings-link' }, 'Settings')),
  ];
}

export async function showDistrict(d) {
  setView(h('p', { 'aria-busy': 'true' }, 'Loading the district…'));
  const district = await api.district(d);
  if (state.listOf !== d) Object.assign(state, { listOf: d, cursors: [null], pageIndex: 0, selected: new Map() });
  state.district = district;
  renderNav();
  document.title = `${district.name}: SIS sync dashboard`;
  const match = h('div', { id: 'match-section' });
  setView(...renderDistrictHeader(district), renderBanner(district), renderPauseBanner(district), renderSchoolsSection(d), match);
  await refreshSchools(d);
  const [{ clever_schools: clever = [] }, { schools: notConnected = [] }] = await Promise.all([api.cleverSchools(d), api.allSchools(d, 'not_connected')]);
  match.replaceChildren(renderMatchSection(d, clever, notConnected));
}

// Re-draws the header, banner and table in place, keeping the selection and the focused control.
export async function refreshDistrict(d) {
  const district = await api.district(d);
  state.district = district;
  const header = $('[data-testid=district-name]');
  if (header) header.nextElementSibling.replaceWith(renderDistrictHeader(district)[1]);
  const banner = $('[data-testid=connection-banner]');
  const fresh = renderBanner(district);
  if (!fresh && banner) {
    const hadFocus = banner.contains(document.activeElement);
    banner.remove();
    if (hadFocus) $('#main').focus();
  } else if (fresh && !banner) header?.nextElementSibling.after(fresh);
  else if (fresh && !banner.contains(document.activeElement)) banner.replaceWith(fresh);
  const pause = renderPauseBanner(district);
  const shownPause = $('[data-testid=pause-banner]');
  if (shownPause) shownPause.replaceWith(pause ?? '');
  else if (pause) $('[data-testid=district-name]')?.nextElementSibling.after(pause);
  await refreshSchools(d);
}
