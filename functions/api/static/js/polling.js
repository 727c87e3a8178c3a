// Following what an action started: refresh until done, and cancel on a newer poll or page change.

import { showResults } from './dom.js';
import { state } from './state.js';

export const POLL_EVERY_MS = 2000;
const POLL_FOR_MS = 30000;

// Refresh every 2 s until done() or ~30 s; a newer poll or a page change cancels an older one.
export async function poll(refresh, done, doneText, timeoutText) {
  const id = ++state.pollId;
  const deadline = Date.now() + POLL_FOR_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => { setTimeout(resolve, POLL_EVERY_MS); });
    if (id !== state.pollId) return;
    await refresh();
    if (id !== state.pollId) return;
    if (done()) return showResults([doneText], true);
  }
  showResults([timeoutText], true);
}

export function stopPolling() {
  state.pollId += 1;
}
