// Holds: selecting held schools (on any page of the list) and clearing their holds.

import { runAction } from './actions.js';
import { ApiError, token, api } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { refreshDistrict } from './district-page.js';
import { $, showAlert, showResults } from './dom.js';
import { plural, appliedWords } from './format.js';
import { guarded } from './guarded.js';
import { reasonTitle, SOURCE_REMEDY, sourceRemedyFirst } from './hold-reasons.js';
import { poll } from './polling.js';
import { showSchool } from './report-page.js';
import { state } from './state.js';

const CLEAR_RESULTS = {
  released: (name) => `${name}: hold cleared. The changes are being applied.`,
  stale: (name) => `Newer changes arrived for ${name}: review them, then clear again.`,
  not_on_hold: (name) => `${name}: not cleared, the school is not on hold.`,
  disconnected: (name) => `${name}: not cleared. The district is disconnected from Clever and nothing is applied until the connection works again: check your settings in Clever, then click I fixed it.`,
};

export const pendingChanges = (school) => (!school.changes_kind || school.changes_kind === 'pending' ? school.changes : undefined);

function totalChanges(schools) {
  const total = {};
  schools.forEach((school) => Object.entries(pendingChanges(school) ?? {}).forEach(([kind, n]) => { total[kind] = (total[kind] ?? 0) + (Number(n) || 0); }));
  return total;
}

// Asks before applying: names the school(s) and what is applied; a hold whose fix belongs in Clever
// says so.
function confirmClear(schools) {
  const sourceHeld = schools.filter(sourceRemedyFirst);
  const warning = sourceHeld.length
    ? [`${sourceHeld.map((s) => s.name).join(', ')} ${sourceHeld.length === 1 ? 'is' : 'are'} held for ${[...new Set(sourceHeld.flatMap((s) => s.holds.filter((hold) => SOURCE_REMEDY.has(hold.reason)).map((hold) => reasonTitle(hold.reason))))].join(' and ')}: the recommended fix is in Clever, then Check for new Clever data.`]
    : [];
  if (schools.length === 1) {
    const [school] = schools;
    return confirmDialog({
      title: `Apply ${appliedWords(pendingChanges(school))} at ${school.name}?`,
      text: "Clearing the hold applies these changes (the CSV of changes lists each one). For 30 days, Undo this sync on the school's report takes them back.",
      details: warning,
      yes: 'Clear hold and apply',
      focusNo: true,
    });
  }
  return confirmDialog({
    title: `Apply ${appliedWords(totalChanges(schools))} at ${plural(schools.length, 'school')}?`,
    text: "Clearing the holds applies these changes (the CSV of changes of each school lists each one). For 30 days, Undo this sync on a school's report takes them back.",
    details: [...schools.map((s) => `${s.name}: ${appliedWords(pendingChanges(s))}`), ...warning],
    yes: `Clear ${plural(schools.length, 'hold')} and apply`,
    focusNo: true,
  });
}

export function toggleSelected(school, on) {
  if (on) state.selected.set(school.school_id, school);
  else state.selected.delete(school.school_id);
  if (!on && $('#select-all')) $('#select-all').checked = false;
  updateSelectedCount();
}

// Select all on hold means every school of the district on hold, as before the list was paged: an
// admin who ticks it expects Clear holds to act on all N, not on the page in view. The held schools
// (and the change sets shown for them) come from the API, every page; the actions wait for it.
export function selectAllOnHold(d, on) {
  state.selected.clear();
  document.querySelectorAll('#schools-table input[type=checkbox]').forEach((box) => { box.checked = on; });
  updateSelectedCount();
  if (!on) return undefined;
  state.selecting = guarded(async () => {
    const { schools = [] } = await api.allSchools(d, 'on_hold');
    if (!$('#select-all')?.checked) return;
    schools.filter((s) => s.pending_sync_id).forEach((s) => state.selected.set(s.school_id, s));
    updateSelectedCount();
  }).finally(() => { state.selecting = null; });
  return state.selecting;
}

export function updateSelectedCount() {
  const count = $('#selected-count');
  const shown = new Set(state.schools.map((s) => s.school_id));
  const elsewhere = [...state.selected.keys()].filter((id) => !shown.has(id)).length;
  if (count) {
    count.textContent = state.selected.size
      ? `${plural(state.selected.size, 'school')} selected${elsewhere ? ` (${elsewhere} not on this page)` : ''}` : 'No school selected';
  }
  const label = $('#select-all-label');
  if (label) label.textContent = state.counts ? `Select all ${state.counts.on_hold} on hold` : 'Select all on hold';
}

// The selected schools, once a Select all on hold still loading has finished.
export async function selectedSchools() {
  await state.selecting;
  return [...state.selected.values()];
}

export function clearSelected(d) {
  return runAction('clear-holds', async () => {
    const schools = await selectedSchools();
    if (!schools.length) return showAlert('Select at least one school on hold, then click Clear holds.');
    if (!(await confirmClear(schools))) return undefined;
    return clearHolds(d, schools, () => refreshDistrict(d));
  });
}

export function clearOne(d, school) {
  return runAction('clear-hold', async () => {
    if (await confirmClear([school])) await clearHolds(d, [school], () => showSchool(d, school.school_id, true));
  });
}

// Clears the holds, says what happened to each school (a 409 for newer changes carries the same
// per-school results), then always refreshes: the page must show the change sets now pending.
async function clearHolds(d, schools, refresh) {
  const body = schools.map((s) => ({ school_id: s.school_id, sync_id: s.pending_sync_id }));
  const heldBefore = state.counts?.on_hold;
  const nameOf = (id) => schools.find((s) => s.school_id === id)?.name ?? id;
  let released = [];
  await guarded(async () => {
    const { results = [] } = await api.clearHolds(d, body).catch((error) => {
      if (error instanceof ApiError && error.results) return { results: error.results };
      throw error;
    });
    showResults(results.map((r) => (CLEAR_RESULTS[r.result] ?? ((n) => `${n}: ${r.result}`))(nameOf(r.school_id))));
    state.selected.clear();
    released = results.filter((r) => r.result === 'released').map((r) => r.school_id);
  });
  if (!token.get()) return; // the session ended (the sign-in page is showing)
  await guarded(refresh, { clearAlert: false });
  if (released.length) {
    const connected = released.length === 1 ? `${nameOf(released[0])} is Connected.` : `The ${released.length} released schools are Connected.`;
    const heldAfter = heldBefore === undefined ? undefined : heldBefore - released.length;
    await guarded(() => poll(refresh, () => released.every((id) => settledConnected(id, heldAfter)),
      connected, 'The changes are still being applied. Refresh the page in a minute.'), { clearAlert: false });
  }
}

// A released school is done when it shows Connected (or has left a filtered list it no longer matches);
// one on another page of the list, once the district's count on hold has gone down by the released.
function settledConnected(id, heldAfter) {
  const school = state.schools.find((s) => s.school_id === id);
  if (school) return school.status === 'connected';
  if (heldAfter !== undefined && state.counts) return state.counts.on_hold <= heldAfter;
  return Boolean(state.filter) && state.filter !== 'connected';
}
