// Why a school is on hold, in the words of the help article, and what to do first.

import { numberWord, plural } from './format.js';

const CHECK_NEW_DATA =
  'Once you have addressed the issue, click Check for new Clever data, and confirm the action on the next screen by clicking Yes, Continue.';

export const REASONS = {
  large_removals: {
    title: 'Large number of removals',
    summary: () =>
      "You'll see this hold when Clever syncs are updated during the semester- and year-end changes, such as the removal of people and classes, as well as changes to source IDs.",
    remedies: [
      `If data removal changes are unexpected, contact your SIS administrator or Clever Support to help undo the removals in Clever. ${CHECK_NEW_DATA}`,
      'If the data removals are expected for this school, click Clear hold.',
    ],
  },
  too_many_parent_connections: {
    title: 'Too many parent connections',
    summary: (detail) => `Students have ${numberWord(detail.max_guardians ?? 6)} or more guardians associated with them.`,
    remedies: [
      "If the student shouldn't have that many guardians connected to them, remove the associations in Clever and click Check for new Clever data to sync again.",
      "If you've confirmed all the guardians and their numbers should be linked to the student, click Clear hold.",
    ],
  },
  emergency_contacts: {
    title: 'Emergency contacts included',
    summary: (detail) => {
      const types = (detail.blocked_contact_types ?? ['Emergency', 'Secondary']).map((t) => `"${String(t).toLowerCase()}"`);
      return `Some people in your data have the ${types.join(' or ')} contact type in Clever. We don't recommend creating accounts for emergency or secondary contacts. We also don't recommend creating an account for people who should not receive messages about students.`;
    },
    remedies: [
      "If you need to filter out emergency and secondary contacts from your data, you can contact your SIS administrator or Clever Support. Once you've removed them from the data you share, click Check for new Clever data, and then click Yes, Continue on the school's SIS sync report. The sync is processed immediately.",
      'If these contacts should receive messages, click Clear hold.',
    ],
  },
  disconnected: {
    title: 'Disconnected',
    summary: () => 'Your Clever sync is placed on hold when sis-sync cannot connect with Clever.',
    remedies: [
      'Check your settings in Clever, then click I fixed it on the SIS sync report. sis-sync will attempt to reconnect with Clever and process the sync immediately.',
    ],
  },
  undone: {
    title: 'Sync undone',
    summary: () => 'An administrator undid this sync: the roster is back as it was before it.',
    remedies: [
      'Review the changes again. If they are expected, click Clear hold to apply them again.',
      `If they are not, fix the data in Clever. ${CHECK_NEW_DATA}`,
    ],
  },
  after_pause: {
    title: "First sync after Clever's pause",
    summary: () =>
      "This is the first sync after Clever paused your district's sync (its summer pause): the changes made in your SIS during the pause arrive at once, and this one removes more than your thresholds allow.",
    remedies: [
      'Check that the removals are the expected year-end changes (graduates, students who moved), then click Clear hold.',
      `If they are not, fix the data in Clever. ${CHECK_NEW_DATA}`,
    ],
  },
};

export const reasonTitle = (code) => REASONS[code]?.title ?? code.replaceAll('_', ' ');

// A hold's title with its count. A large_removals hold made only of re-issued Clever ids (a re-key)
// is "Source IDs changed": calling it removals would contradict its Removed = 0.
export function holdTitle(hold) {
  const detail = hold.detail ?? {};
  if (hold.reason === 'large_removals') {
    const types = Object.values(detail.types ?? {});
    const removed = types.reduce((n, c) => n + (c.removed ?? 0), 0);
    const rekeyed = types.reduce((n, c) => n + (c.source_id_changed ?? 0), 0);
    if (!removed && rekeyed) return `Source IDs changed (${rekeyed})`;
    return `${reasonTitle(hold.reason)} (${removed}${rekeyed ? `, and ${rekeyed} source IDs changed` : ''})`;
  }
  if (hold.reason === 'too_many_parent_connections') return `${reasonTitle(hold.reason)} (${plural(detail.students ?? 0, 'student')})`;
  if (hold.reason === 'emergency_contacts') return `${reasonTitle(hold.reason)} (${plural(detail.contacts ?? 0, 'contact')})`;
  return reasonTitle(hold.reason);
}

// Holds whose recommended remedy is at the source (the article: fix it in Clever, then Check for new
// Clever data); for these Clear hold is the second choice.
export const SOURCE_REMEDY = new Set(['emergency_contacts', 'too_many_parent_connections']);
export const sourceRemedyFirst = (school) => (school.holds ?? []).some((hold) => SOURCE_REMEDY.has(hold.reason));

export const SOURCE_REMEDY_WORDS = {
  emergency_contacts: 'Remove the emergency and secondary contacts from the data shared with sis-sync in Clever (your SIS administrator or Clever Support can help), then click Check for new Clever data. Clear hold only if these contacts should receive messages.',
  too_many_parent_connections: "Remove the guardians who should not be linked to the student in Clever, then click Check for new Clever data. Clear hold only if you've confirmed all the guardians should be linked.",
};
