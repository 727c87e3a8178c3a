// Undo this sync, from the school report.

import { runAction } from './actions.js';
import { api } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { showResults } from './dom.js';
import { plural, when } from './format.js';
import { guarded } from './guarded.js';
import { poll } from './polling.js';
import { showSchool } from './report-page.js';
import { state } from './state.js';

// "12 removed records restored, 3 added records archived": what undoing a sync does to the roster.
function revertedWords(changes) {
  if (!changes) return ['Every change the sync made is taken back.'];
  const lines = [[changes.removed, 'removed record', 'restored'], [changes.added, 'added record', 'archived'],
    [changes.updated, 'updated record', 'reverted'], [changes.source_id_changed, 'changed source ID', 'changed back']]
    .filter(([n]) => n > 0).map(([n, noun, what]) => `${plural(n, noun)} ${what}`);
  return lines.length ? lines : ['Every change the sync made is taken back.'];
}

// Undo this sync: asked first (naming what is reverted), then the school is on hold again with the
// same changes for review; the page follows it until it shows so.
export function undoOne(d, school) {
  return runAction('undo-sync', async () => {
    const { sync_id: syncId } = school.undo;
    const yes = await confirmDialog({
      title: `Undo the sync applied ${when(school.undo.applied_at).textContent} at ${school.name}?`,
      text: 'The roster goes back to how it was before this sync. The school is then on hold with these changes, so that you can review them and clear the hold to apply them again.',
      details: revertedWords(school.undo.changes),
      yes: 'Undo this sync',
      focusNo: true,
    });
    if (!yes) return;
    const started = await guarded(() => api.undo(d, school.school_id, syncId));
    if (!started) return;
    showResults([`${school.name}: the sync is being undone.`]);
    const refresh = () => showSchool(d, school.school_id, true);
    await guarded(() => poll(refresh, () => state.schools[0]?.status === 'on_hold' && state.schools[0]?.pending_sync_id === syncId,
      `${school.name} is on hold with the undone changes.`, 'The sync is still being undone. Refresh the page in a minute.'), { clearAlert: false });
  });
}
