// Check for new Clever data and I fixed it: start a sync, follow it, say what it did.

import { runAction } from './actions.js';
import { api } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { currentRoute } from './current-route.js';
import { refreshDistrict } from './district-page.js';
import { $, showAlert, showResults } from './dom.js';
import { plural } from './format.js';
import { guarded } from './guarded.js';
import { POLL_EVERY_MS } from './polling.js';
import { showSchool } from './report-page.js';
import { state } from './state.js';

const SYNC_FOLLOW_MS = 120000; // a big district's sync takes a while: follow it for 2 minutes
const CONFIRM_TEXT = 'This asks Clever for the latest data now and processes it immediately.';
const confirmCheck = () => confirmDialog({ title: 'Check for new Clever data?', text: CONFIRM_TEXT, yes: 'Yes, Continue' });

// Check for new Clever data: asked first, then one sync at a time whatever the clicks.
export function checkCleverAction(d, schoolId) {
  return runAction('check-clever', async () => {
    if (await confirmCheck()) await checkClever(d, schoolId);
  });
}

async function checkClever(d, schoolId) {
  await guarded(async () => {
    const { sync_id: syncId, already_running: running } = await api.sync(d);
    showResults([running ? `A sync of the district was already running (sync ${syncId}): following it.`
      : `Checking Clever for new data${syncId ? ` (sync ${syncId})` : ''}. The statuses update when it is processed.`]);
    await followSync(d, schoolId, syncId);
  });
}

export async function reconnect(d) {
  await guarded(async () => {
    const result = await api.reconnect(d);
    if (result.connection === 'connected') {
      showResults([`Reconnected with Clever. A sync is running now${result.sync_id ? ` (sync ${result.sync_id})` : ''}.`]);
      await refreshCurrent(d, currentRoute().schoolId);
      await followSync(d, currentRoute().schoolId, result.sync_id);
    } else {
      const err = result.error ?? {};
      $('#results').replaceChildren();
      showAlert(`Still disconnected. The error Clever gave: ${err.message || err.code || 'unknown error'}`);
      await refreshCurrent(d, currentRoute().schoolId);
    }
  });
}

// Follows the sync (GET …/syncs/{sync_id}, DESIGN §7) every 2 s until it has ended, then refreshes
// the page and says what it did, school by school, or why it failed; a newer poll or a page change
// cancels it. The schools' statuses before tell "went on hold" from "still on hold".
async function followSync(d, schoolId, syncId) {
  if (!syncId) return undefined;
  const id = ++state.pollId;
  const { schools: before = [] } = await api.allSchools(d);
  const deadline = Date.now() + SYNC_FOLLOW_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => { setTimeout(resolve, POLL_EVERY_MS); });
    if (id !== state.pollId) return undefined;
    const sync = await api.syncStatus(d, syncId);
    if (id !== state.pollId) return undefined;
    if (sync.status !== 'running') {
      await refreshCurrent(d, schoolId);
      const { schools: after = [] } = await api.allSchools(d);
      if (id !== state.pollId) return undefined;
      return showResults(syncOutcome(sync, before, after), true);
    }
  }
  return showResults(['The sync is still running. Refresh the page in a minute.'], true);
}

// What a finished sync did, in sentences: a failure's error, the schools held (newly or again),
// applied and released, or that nothing changed. Never "up to date" for a sync that failed.
function syncOutcome(sync, before, after) {
  if (sync.status === 'failed') {
    const error = sync.error ?? {};
    const message = (error.message || 'Clever could not be reached').replace(/\.$/, '');
    return [`The check failed, nothing was synced: ${message}${error.code ? ` (${error.code})` : ''}.`];
  }
  const name = (id) => after.find((s) => s.school_id === id)?.name ?? before.find((s) => s.school_id === id)?.name ?? id;
  const names = (ids) => ids.map(name).join(', ');
  const wasHeld = new Set(before.filter((s) => s.status === 'on_hold').map((s) => s.school_id));
  const { held = [], applied = [], released = [] } = sync.schools ?? {};
  const newly = held.filter((id) => !wasHeld.has(id));
  const again = held.filter((id) => wasHeld.has(id));
  const lines = [
    newly.length ? `${plural(newly.length, 'school')} went on hold: ${names(newly)}.` : '',
    again.length ? `${plural(again.length, 'school')} still on hold, with the newest changes: ${names(again)}.` : '',
    released.length ? `Hold released, the data was fixed in Clever: ${names(released)}.` : '',
    applied.length ? `Changes applied at ${plural(applied.length, 'school')}: ${names(applied)}.` : '',
  ].filter(Boolean);
  return lines.length ? lines : ['Nothing changed: the Clever data is the same as what sis-sync already has.'];
}

function refreshCurrent(d, schoolId) {
  return schoolId ? showSchool(d, schoolId, true) : refreshDistrict(d);
}
