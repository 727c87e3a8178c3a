// The district's sync history.

import { enc, api } from './api.js';
import { h, setView } from './dom.js';
import { plural, when } from './format.js';
import { guarded } from './guarded.js';
import { renderNav } from './session.js';
import { state } from './state.js';

const TRIGGER_WORDS = {
  schedule: 'Scheduled sync',
  manual: 'Check for new Clever data',
  reconnect: 'I fixed it',
  operator: 'Sync started by an operator',
};
const SYNC_STATUS_WORDS = { succeeded: 'Finished', failed: 'Failed', running: 'Running' };

// Each sync of the district, newest first (GET …/syncs, a page at a time): when, what started it,
// how it ended, and the schools it put on hold, applied and released.
export async function showSyncHistory(d) {
  setView(h('p', { 'aria-busy': 'true' }, 'Loading the sync history…'));
  const [district, { schools = [] }, first] = await Promise.all([api.district(d), api.allSchools(d), api.syncs(d)]);
  state.district = district;
  renderNav();
  document.title = `${district.name}: sync history`;
  const names = new Map(schools.map((s) => [s.school_id, s.name]));
  const body = h('tbody', {});
  const more = h('div', { className: 'toolbar' });
  const showPage = ({ syncs = [], next_cursor: cursor }) => {
    body.append(...syncs.map((sync) => renderSyncRow(sync, names)));
    more.replaceChildren(cursor ? h('button', {
      type: 'button', 'data-testid': 'older-syncs', onclick: () => guarded(async () => showPage(await api.syncs(d, cursor))),
    }, 'Show older syncs') : '');
    more.querySelector('button')?.focus();
  };
  const heads = ['Started', 'Started by', 'Result', 'Schools'];
  setView(
    h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: `#/districts/${enc(d)}`, className: 'back' }, `← Back to ${district.name} schools`)),
    h('p', { className: 'meta', 'data-testid': 'district-name' }, district.name),
    h('h1', {}, 'Sync history'),
    h('p', {}, 'Every sync with Clever, newest first: when it ran, what started it, how it ended and what it did to the schools.'),
    first.syncs?.length
      ? h('table', { className: 'syncs', 'data-testid': 'sync-history' },
        h('caption', {}, `Syncs of ${district.name}`),
        h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col' }, label)))), body)
      : h('p', {}, 'No sync has run yet.'),
    more);
  showPage(first);
}

function renderSyncRow(sync, names) {
  const list = (ids) => ids.map((id) => names.get(id) ?? id).join(', ');
  const { held = [], applied = [], released = [], unchanged = 0 } = sync.schools ?? {};
  const did = [
    held.length ? `On hold: ${list(held)}` : '',
    released.length ? `Hold released: ${list(released)}` : '',
    applied.length ? `Applied: ${list(applied)}` : '',
    unchanged ? `Unchanged: ${plural(unchanged, 'school')}` : '',
  ].filter(Boolean);
  const error = sync.error ? `: ${sync.error.message}${sync.error.code ? ` (${sync.error.code})` : ''}` : '';
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('tr', { 'data-testid': `sync-${sync.sync_id}`, 'data-status': sync.status },
    h('th', { scope: 'row', 'data-label': 'Started' }, when(sync.started_at)),
    cell('Started by', TRIGGER_WORDS[sync.trigger] ?? sync.trigger),
    cell('Result', `${SYNC_STATUS_WORDS[sync.status] ?? sync.status}${error}`),
    cell('Schools', did.length ? h('ul', { className: 'plain' }, did.map((line) => h('li', {}, line)))
      : (sync.status === 'failed' ? 'Nothing synced' : 'Nothing changed')));
}
