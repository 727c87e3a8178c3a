import { ApiError } from './api.js';
import { showAlert } from './dom.js';
import { sessionEnded } from './session.js';

// Runs an action; API errors go to the alert region, an expired session back to sign-in.
export async function guarded(action, { clearAlert = true } = {}) {
  try {
    if (clearAlert) showAlert('');
    return await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      return sessionEnded(error.code === 'http_401' ? 'Your session has ended. Sign in again.' : error.message);
    }
    showAlert(error.message || String(error));
    if (!(error instanceof ApiError)) console.error(error);
    return undefined;
  }
}
