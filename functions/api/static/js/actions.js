// Action buttons: one click, one request.

import { h, $ } from './dom.js';

// Actions whose request runs. Their buttons (data-action) are disabled until it has ended, and a
// second start meanwhile (a double click, a button drawn again by a refresh) does nothing: one
// click, one request.
const running = new Set();

export function actionButton(key, props, ...children) {
  return h('button', { type: 'button', 'data-action': key, disabled: running.has(key), 'aria-busy': running.has(key) ? 'true' : undefined, ...props }, ...children);
}

function markBusy(key, busy) {
  document.querySelectorAll(`[data-action="${key}"]`).forEach((button) => {
    button.disabled = busy;
    if (busy) button.setAttribute('aria-busy', 'true');
    else button.removeAttribute('aria-busy');
  });
}

export async function runAction(key, action) {
  if (running.has(key)) return undefined;
  // (Safari does not focus a clicked button: the focus on nothing counts as on the button)
  const focused = document.activeElement;
  const hadFocus = !focused || focused === document.body || focused.closest?.('[data-action]')?.dataset.action === key;
  running.add(key);
  markBusy(key, true);
  try {
    return await action();
  } finally {
    running.delete(key);
    markBusy(key, false);
    // a disabled button loses the focus: give it back to the (possibly redrawn) button
    if (hadFocus && (!document.activeElement || document.activeElement === document.body)) $(`[data-action="${key}"]`)?.focus();
  }
}
