// A school's SIS sync report: its holds, actions, changes and history.

import { actionButton, runAction } from './actions.js';
import { enc, api } from './api.js';
import { renderApplySafeOffer } from './apply-safe.js';
import { checkCleverAction } from './check-clever.js';
import { renderBanner } from './district-page.js';
import { h, $, setView, showResults } from './dom.js';
import { CHANGE_KINDS, RECORD_TYPES, when, statusBadge } from './format.js';
import { guarded } from './guarded.js';
import { reasonTitle, sourceRemedyFirst, SOURCE_REMEDY_WORDS } from './hold-reasons.js';
import { clearOne } from './holds.js';
import { renderHold } from './report-holds.js';
import { renderHistory } from './school-history.js';
import { state } from './state.js';
import { undoOne } from './undo.js';

function renderReport(d, district, school) {
  const back = h('a', { href: `#/districts/${enc(d)}`, className: 'back' }, `← Back to ${district.name} schools`);
  return [
    h('nav', { 'aria-label': 'Breadcrumb' }, back),
    h('p', { className: 'meta', 'data-testid': 'district-name' }, district.name),
    h('h1', {}, `${school.name}: SIS sync report`),
    h('p', { className: 'meta' }, 'Status: ', statusBadge(school.status, { 'data-testid': 'report-status' }), ' · Last synced: ', when(school.last_synced_at),
      school.clever_school_id ? ` · Clever school ID ${school.clever_school_id}` : ''),
    renderBanner(district),
    (school.holds ?? []).length ? h('section', { 'aria-labelledby': 'holds-title' },
      h('h2', { id: 'holds-title' }, 'Why this school is on hold'), school.holds.map(renderHold)) : null,
    h('section', { 'aria-labelledby': 'actions-title' },
      h('h2', { id: 'actions-title' }, 'Review and act'),
      h('p', {}, 'Any time a school is on hold: click Download CSV of changes, then review the sync changes to ensure they are expected.'),
      renderReportActions(d, school), renderApplySafeOffer(d, school)),
    renderByType(school),
    renderHistory(school.history ?? []),
  ];
}

// The full change table, titled by what its numbers are; nothing when they no longer hold.
function renderByType(school) {
  const byType = school.by_type ?? {};
  const kind = school.changes_kind ?? 'none';
  const types = Object.keys(byType);
  const title = {
    pending: 'Pending changes (held, not applied)',
    applying: 'Changes being applied',
    last_applied: 'Last applied changes',
  }[kind];
  if (!types.length || !title) return null;
  const caption = kind === 'last_applied' ? ['Last applied changes per record type, applied ', when(school.changes_at)]
    : `${title} per record type`;
  return h('section', { 'aria-labelledby': 'types-title', 'data-testid': 'changes-table', 'data-kind': kind },
    h('h2', { id: 'types-title' }, title),
    h('table', { className: 'by-type' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Record type'), CHANGE_KINDS.map(([, label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, types.map((type) => h('tr', {},
        h('th', { scope: 'row', 'data-label': 'Record type' }, RECORD_TYPES[type]?.[1] ?? type),
        CHANGE_KINDS.map(([k, label]) => h('td', { 'data-label': label }, h('span', { className: 'num' }, String(byType[type]?.[k] ?? 0)))))))));
}

// The report's actions. For a hold whose fix belongs in Clever, Check for new Clever data (after
// fixing it there) is the primary action and Clear hold the second choice.
function renderReportActions(d, school) {
  const sourceFirst = school.status === 'on_hold' && sourceRemedyFirst(school);
  const csv = school.csv_url
    ? actionButton('download-csv', { id: 'download-csv', 'data-testid': 'download-csv', onclick: () => runAction('download-csv', () => downloadCsv(school)) }, 'Download CSV of changes')
    : h('span', { className: 'hint' }, 'No pending changes to download.');
  const clear = school.status === 'on_hold'
    ? actionButton('clear-hold', { className: sourceFirst ? undefined : 'primary', 'data-testid': 'clear-hold', 'aria-haspopup': 'dialog', onclick: () => clearOne(d, school) }, 'Clear hold')
    : null;
  const check = actionButton('check-clever', { className: sourceFirst ? 'primary' : undefined, 'data-testid': 'check-clever', 'aria-haspopup': 'dialog', onclick: () => checkCleverAction(d, school.school_id) }, 'Check for new Clever data');
  const advice = sourceFirst
    ? [...new Set(school.holds.map((hold) => hold.reason))].filter((reason) => SOURCE_REMEDY_WORDS[reason])
      .map((reason) => h('p', { 'data-testid': 'source-remedy' }, h('strong', {}, `Recommended for ${reasonTitle(reason)}: `), SOURCE_REMEDY_WORDS[reason]))
    : [];
  const undo = school.undo
    ? actionButton('undo-sync', { 'data-testid': 'undo-sync', 'aria-haspopup': 'dialog', 'aria-describedby': 'undo-until', onclick: () => undoOne(d, school) }, 'Undo this sync')
    : null;
  return [...advice, h('div', { className: 'toolbar' }, csv, sourceFirst ? [check, clear] : [clear, check], undo),
    undo ? h('p', { className: 'hint', id: 'undo-until' }, `The sync applied ${when(school.undo.applied_at).textContent} can be undone until ${when(school.undo.until).textContent}.`) : null];
}

async function downloadCsv(school) {
  await guarded(async () => {
    const filename = `changes-${school.school_id}-${school.pending_sync_id ?? 'latest'}.csv`;
    const { blob, url: remote } = await api.csv(school.csv_url);
    // a very large CSV comes from a short-lived download URL (fetch cannot follow it there)
    const url = remote ?? URL.createObjectURL(blob);
    const link = h('a', { href: url, download: filename, hidden: true, 'data-testid': 'csv-link' });
    document.body.append(link);
    link.click();
    link.remove();
    if (!remote) setTimeout(() => URL.revokeObjectURL(url), 1000);
    showResults([remote ? `Downloading the CSV of changes for ${school.name}.` : `Downloaded the CSV of changes for ${school.name}.`]);
  });
}

export async function showSchool(d, s, inPlace = false) {
  if (!inPlace) setView(h('p', { 'aria-busy': 'true' }, 'Loading the SIS sync report…'));
  const [district, school] = await Promise.all([api.district(d), api.school(d, s)]);
  state.district = district;
  state.schools = [school];
  const focusedTestId = document.activeElement?.dataset?.testid;
  setView(...renderReport(d, district, school));
  document.title = `${school.name}: SIS sync report`;
  if (focusedTestId) ($(`[data-testid="${focusedTestId}"]`) ?? $('#main')).focus();
}
