// sis-sync district dashboard. Plain ES module: words, DOM helper, API client, sign-in, views, actions, router.
// Every API call carries `Authorization: Bearer <ID token>`. Sign-in is OAuth 2.0 authorization code
// + PKCE against the endpoints GET /v1/auth-config names (Cognito's Hosted UI, or the devstack's
// stand-in); the ID token and the pending sign-in live in this tab's sessionStorage only. Log in with
// Clever is the same flow with the Clever sign-in client and identity_provider=Clever; a cookie
// remembers only which of the two ways this browser signed in with last (never a token).

// ------------------------------------------------------------------------------------- words

const TOKEN_KEY = 'sis-sync.id-token';
const PENDING_KEY = 'sis-sync.pending-sign-in'; // {verifier, state, returnTo, way, clientId} until the code comes back
const SIGNED_OUT_KEY = 'sis-sync.signed-out';
const WAY_COOKIE = 'sis-sync.sign-in-with'; // 'email' or 'clever': a new tab or an e-mail link goes that way at once
const WAY_DAYS = 30;
const POLL_EVERY_MS = 2000;
const POLL_FOR_MS = 30000;
const SYNC_FOLLOW_MS = 120000; // a big district's sync takes a while: follow it for 2 minutes
const SYNC_PAGE = 20;
const BASE = new URL('.', window.location.href).pathname.replace(/\/$/, '');

const STATUS_WORDS = {
  connected: 'Connected',
  on_hold: 'On hold',
  not_connected: 'Not connected',
  disconnected: 'Disconnected',
};
const STATUS_MARKS = { connected: '✓', on_hold: '‖', not_connected: '○', disconnected: '✕' };
const CHANGE_KINDS = [
  ['added', 'Added'],
  ['updated', 'Updated'],
  ['removed', 'Removed'],
  ['source_id_changed', 'Source ID changed'],
];
const RECORD_TYPES = {
  student: ['student', 'Students'],
  teacher: ['teacher', 'Teachers'],
  staff: ['staff member', 'Staff'],
  contact: ['contact', 'Contacts'],
  section: ['section', 'Sections'],
};
const CHECK_NEW_DATA =
  'Once you have addressed the issue, click Check for new Clever data, and confirm the action on the next screen by clicking Yes, Continue.';
const CONFIRM_TEXT = 'This asks Clever for the latest data now and processes it immediately.';
const REASONS = {
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
const DISCONNECTED_CHECKS = [
  'The sis-sync application is still connected to your district in Clever and its access has not been revoked.',
  "Your schools are still shared with the application in Clever's sharing settings.",
  "Your district's Clever sync is not paused or failing.",
];
const CLEAR_RESULTS = {
  released: (name) => `${name}: hold cleared. The changes are being applied.`,
  stale: (name) => `Newer changes arrived for ${name}: review them, then clear again.`,
  not_on_hold: (name) => `${name}: not cleared, the school is not on hold.`,
  disconnected: (name) => `${name}: not cleared. The district is disconnected from Clever and nothing is applied until the connection works again: check your settings in Clever, then click I fixed it.`,
};
const EXAMPLES_SHOWN = 5; // per hold, in the report; the CSV of changes lists every one
const MATCH_WORDS = { nces_id: 'same NCES id', state_id: 'same state id', name: 'similar name' };

// The school list is paged by the API: `cursors[i]` loads page i (null: the first); `counts` are the
// whole district's; `selected` maps a school id to the school as shown when it was ticked, so a
// selection made on one page still acts on another.
const SCHOOL_PAGE_SIZES = [25, 50, 100, 200];
const ALL_SCHOOLS_PAGE = 500; // the API's largest page: when every school of a status is needed
const SCHOOL_SORTS = {
  status: 'On hold first',
  name: 'Name, A to Z',
  '-name': 'Name, Z to A',
  '-last_synced_at': 'Last synced, latest first',
  last_synced_at: 'Last synced, oldest first',
};
const state = {
  me: null, district: null, schools: [], filter: '', sort: 'status', pageSize: 50, cursors: [null], pageIndex: 0,
  next: null, total: 0, counts: null, selected: new Map(), pollId: 0,
};

// ------------------------------------------------------------------------------------- DOM

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { value, checked, ...attributes } = props;
  for (const [key, val] of Object.entries(attributes)) {
    if (val === undefined || val === null || val === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), val);
    else el.setAttribute(key === 'className' ? 'class' : key, val === true ? '' : String(val));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  if (value !== undefined) el.value = value;
  if (checked !== undefined) el.checked = checked;
  return el;
}

const $ = (selector) => document.querySelector(selector);

const numberWord = (n) => ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'][n] ?? String(n);
const plural = (count, noun) => `${count} ${count === 1 ? noun : `${noun}s`}`;
const reasonTitle = (code) => REASONS[code]?.title ?? code.replaceAll('_', ' ');

// A hold's title with its count. A large_removals hold made only of re-issued Clever ids (a re-key)
// is "Source IDs changed": calling it removals would contradict its Removed = 0.
function holdTitle(hold) {
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

// What a school's counts are (the API's changes_kind): held and not applied, being applied, applied
// last (with its time), or nothing any more.
const CHANGES_WORDS = {
  pending: 'Pending (held, not applied)',
  applying: 'Being applied',
  last_applied: 'Last applied',
  none: 'No changes pending',
};

function changesLabel(school) {
  const kind = school.changes_kind ?? 'none';
  return h('span', { className: `changes-kind changes-${kind}`, 'data-testid': 'changes-kind', 'data-kind': kind },
    CHANGES_WORDS[kind] ?? kind, kind === 'last_applied' && school.changes_at ? [' ', when(school.changes_at)] : '');
}
const showAlert = (message) => $('#alert').replaceChildren(message ? h('p', {}, message) : '');
const setView = (...children) => $('#view').replaceChildren(...children.filter(Boolean));

function when(iso) {
  if (!iso) return h('span', {}, 'Never');
  const date = new Date(iso);
  return h('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

function statusBadge(status, props = {}) {
  return h('span', { className: `status status-${status}`, 'data-status': status, ...props },
    h('span', { 'aria-hidden': 'true', className: 'mark' }, STATUS_MARKS[status] ?? '?'), ' ', STATUS_WORDS[status] ?? status);
}

function showResults(lines, append = false) {
  const list = append ? $('#results ul') ?? h('ul') : h('ul');
  list.append(...lines.map((line) => h('li', {}, line)));
  if (!append || !list.isConnected) $('#results').replaceChildren(list);
}

// ------------------------------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, code, message, results) {
    super(message);
    this.status = status;
    this.code = code;
    this.results = results; // Clear holds' per-school results, also sent with its 409
  }
}

const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function request(path, { method = 'GET', body, accept = 'application/json', raw = false } = {}) {
  const headers = { Accept: accept };
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const url = /^(https?:)?\/\//.test(path) ? path : `${BASE}${path}`;
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'The dashboard cannot reach the server. Check your connection and try again.');
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  return response.status === 204 ? {} : response.json();
}

async function errorFrom(response) {
  const data = await response.json().catch(() => ({})); // an HTML error page: generic message
  const error = data?.error ?? {};
  const message = error.message || `The server answered ${response.status} ${response.statusText}.`;
  return new ApiError(response.status, error.code || `http_${response.status}`, message, Array.isArray(data?.results) ? data.results : undefined);
}

// The changes CSV: its bytes, or (too large to return inline) a short-lived URL to download it from.
async function fetchCsv(path) {
  const response = await request(path, { accept: 'text/csv, application/json;q=0.9', raw: true });
  if ((response.headers.get('Content-Type') ?? '').startsWith('application/json')) {
    const { url } = await response.json();
    return { url };
  }
  return { blob: await response.blob() };
}

const enc = encodeURIComponent;
const districtPath = (d) => `/v1/districts/${enc(d)}`;
const post = (path, body) => request(path, { method: 'POST', body });

const api = {
  authConfig: () => request('/v1/auth-config'),
  me: () => request('/v1/me'),
  district: (d) => request(districtPath(d)),
  schools: (d, { status, sort, limit, cursor } = {}) => {
    const query = new URLSearchParams(Object.entries({ status, sort, limit, cursor }).filter(([, v]) => v));
    return request(`${districtPath(d)}/schools${query.toString() ? `?${query}` : ''}`);
  },
  // Every school (of a status), page after page: for names and the few lists that need them all.
  allSchools: async (d, status) => {
    const all = [];
    let cursor = null;
    do {
      const page = await api.schools(d, { status, limit: ALL_SCHOOLS_PAGE, cursor });
      all.push(...(page.schools ?? []));
      cursor = page.next_cursor;
    } while (cursor);
    return { schools: all };
  },
  school: (d, s) => request(`${districtPath(d)}/schools/${enc(s)}`),
  cleverSchools: (d) => request(`${districtPath(d)}/clever-schools`),
  clearHolds: (d, schools) => post(`${districtPath(d)}/holds/clear`, { schools }),
  applySafe: (d, schools) => post(`${districtPath(d)}/holds/apply-safe`, { schools }),
  undo: (d, s, syncId) => post(`${districtPath(d)}/schools/${enc(s)}/undo`, { sync_id: syncId }),
  sync: (d) => post(`${districtPath(d)}/sync`, { confirm: true }),
  reconnect: (d) => post(`${districtPath(d)}/reconnect`),
  syncStatus: (d, syncId) => request(`${districtPath(d)}/syncs/${enc(syncId)}`),
  syncs: (d, cursor) => request(`${districtPath(d)}/syncs?limit=${SYNC_PAGE}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
  match: (d, matches) => post(`${districtPath(d)}/schools/match`, { matches }),
  csv: (url) => fetchCsv(url),
};

// Runs an action; API errors go to the alert region, an expired session back to sign-in.
async function guarded(action, { clearAlert = true } = {}) {
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

// ------------------------------------------------------------------------------------- sign-in

const OAUTH_ERRORS = {
  invalid_grant: 'The sign-in code was already used or has expired.',
  access_denied: 'Sign-in was cancelled or refused.',
};
// Cognito wraps a trigger's refusal ("<Trigger> failed with error <message>."): keep the message.
const TRIGGER_REFUSAL = /^\w+ failed with error (.+?)\.?$/s;

class SignInRefused extends Error {} // an answer that came back refused: the card offers the other ways

const redirectUri = () => `${window.location.origin}${BASE}/`;

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

let authConfigAnswer;
async function authConfig() {
  try {
    authConfigAnswer ??= await api.authConfig();
    return authConfigAnswer;
  } catch (error) {
    throw new Error(`The dashboard cannot find where to sign in: ${error.message}`);
  }
}

const rememberedWay = () => document.cookie.split('; ').find((c) => c.startsWith(`${WAY_COOKIE}=`))?.split('=')[1];

function rememberWay(way) {
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  const age = way ? WAY_DAYS * 24 * 3600 : 0;
  document.cookie = `${WAY_COOKIE}=${way ?? ''}; Max-Age=${age}; Path=${BASE}/; SameSite=Strict${secure}`;
}

// To the authorization server; it comes back to this page with ?code=…&state=… (at once, without a
// prompt, while its own session lasts). The page asked for (#/districts/…) is restored afterwards.
// `way` is 'email' (the Hosted UI) or 'clever' (Cognito goes straight to Clever's login).
async function beginSignIn(way = 'email') {
  sessionStorage.removeItem(SIGNED_OUT_KEY);
  const config = await authConfig();
  const clever = way === 'clever' && config.clever_client_id;
  const clientId = clever ? config.clever_client_id : config.client_id;
  const pending = { verifier: randomText(48), state: randomText(24), returnTo: window.location.hash, way: clever ? 'clever' : 'email', clientId };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier)));
  const url = new URL(config.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri(),
    scope: config.scopes.join(' '),
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(clever ? { identity_provider: 'Clever' } : {}),
  }).toString();
  window.location.assign(url.toString());
}

// Back from the authorization server: check `state`, exchange the code for tokens (PKCE verifier).
async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY); // one answer per sign-in started
  // the code must stay neither in the address bar nor in the history
  window.history.replaceState(null, '', `${BASE}/${pending?.returnTo ?? ''}`);
  if (params.has('error')) {
    const description = params.get('error_description');
    const refusal = description?.match(TRIGGER_REFUSAL)?.[1];
    const reason = refusal ?? OAUTH_ERRORS[params.get('error')] ?? description ?? params.get('error');
    if (pending?.way === 'clever') {
      rememberWay(null); // the next visit asks again instead of going back to Clever: no loop
      throw new SignInRefused(`Log in with Clever was refused: ${reason}`);
    }
    throw new SignInRefused(`The sign-in service refused: ${reason}`);
  }
  if (!pending || !params.get('state') || params.get('state') !== pending.state) {
    throw new Error('This sign-in answer does not belong to a sign-in started in this tab, so it was ignored. Nothing was signed in.');
  }
  const config = await authConfig();
  let response;
  try {
    response = await fetch(config.token_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: pending.clientId ?? config.client_id, // the client the flow started with
        code: params.get('code') ?? '',
        redirect_uri: redirectUri(),
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    throw new Error('The dashboard cannot reach the sign-in service. Check your connection and try again.');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.id_token) {
    throw new Error(`Signing in failed: ${OAUTH_ERRORS[answer.error] ?? answer.error_description ?? `the sign-in service answered ${response.status}`}.`);
  }
  token.set(answer.id_token);
  rememberWay(pending.way ?? 'email');
}

async function signOut() {
  showAlert(''); // what went wrong before belongs to the session that ended
  $('#results').replaceChildren();
  token.clear();
  state.me = null;
  stopPolling();
  sessionStorage.setItem(SIGNED_OUT_KEY, '1');
  let config;
  try {
    config = await authConfig();
  } catch {
    return renderSignedOut();
  }
  // Ends the authorization server's session too (else the next sign-in would need no prompt).
  const url = new URL(config.logout_url);
  url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
  window.location.assign(url.toString());
  return undefined;
}

function sessionEnded(message) {
  token.clear();
  state.me = null;
  stopPolling();
  renderSignInProblem(message);
}

// The sign-in card: the e-mail sign-in, and Log in with Clever where the deployment has it. After a
// refused answer it also offers Sign out, which ends the sign-in service's session.
async function signInCard(testid, title, message, buttonText, { offerSignOut = false } = {}) {
  state.me = null;
  renderNav();
  showAlert('');
  $('#results').replaceChildren();
  const clever = await authConfig().then((config) => Boolean(config.clever_client_id), () => false);
  const button = h('button', { type: 'button', className: 'primary', 'data-testid': 'signin-start', onclick: () => startSignIn('email') },
    clever ? 'Sign in with e-mail' : buttonText);
  setView(h('section', { className: 'card signin', 'data-testid': testid, 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, title), message ? h('p', {}, message) : null, button,
    clever ? h('button', { type: 'button', 'data-testid': 'signin-clever', onclick: () => startSignIn('clever') }, 'Log in with Clever') : null,
    offerSignOut ? h('button', { type: 'button', 'data-testid': 'signin-sign-out', onclick: () => signOut() }, 'Sign out') : null));
  button.focus();
}

const renderSignInProblem = (message, refused = false) => signInCard('signin-problem', 'Not signed in', message, 'Sign in again', { offerSignOut: refused });
const renderSignedOut = () => signInCard('signed-out', 'You have signed out', '', 'Sign in');
const renderChooseSignIn = () => signInCard('signin-choose', 'Sign in to the SIS sync dashboard', 'District administrators whose district uses Clever can log in with their Clever account.', 'Sign in');

async function startSignIn(way) {
  try {
    await beginSignIn(way);
  } catch (error) {
    renderSignInProblem(error.message);
  }
}

// No token: go the way this browser signed in with last (no prompt while that session lasts); a
// deployment with Clever sign-in asks a browser that has not signed in yet which way.
async function signInAgain() {
  try {
    const config = await authConfig();
    const way = config.clever_client_id ? rememberedWay() : 'email';
    return way ? await beginSignIn(way) : await renderChooseSignIn();
  } catch (error) {
    return renderSignInProblem(error.message);
  }
}

function renderNav() {
  const nav = $('#account');
  if (!state.me) return nav.replaceChildren();
  const ids = state.me.district_ids ?? [];
  const picker = ids.length > 1
    ? h('span', { className: 'picker' },
      h('label', { for: 'district-picker' }, 'District'),
      h('select', { id: 'district-picker', value: state.district?.district_id ?? ids[0], onchange: (e) => { window.location.hash = `#/districts/${enc(e.target.value)}`; } },
        ids.map((id) => h('option', { value: id }, id))))
    : null;
  nav.replaceChildren(picker ?? '', h('span', { className: 'who' }, state.me.email),
    h('button', { type: 'button', onclick: () => signOut() }, 'Sign out'));
}

// ------------------------------------------------------------------------------------- district page

function renderBanner(district) {
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

function renderSchoolsSection(d) {
  const sort = h('select', { id: 'school-sort', 'data-testid': 'school-sort', value: state.sort, onchange: (e) => { state.sort = e.target.value; firstSchoolsPage(d); } },
    Object.entries(SCHOOL_SORTS).map(([value, label]) => h('option', { value }, label)));
  const check = actionButton('check-clever', { 'data-testid': 'check-clever', 'aria-haspopup': 'dialog', onclick: () => checkCleverAction(d) }, 'Check for new Clever data');
  return h('section', { 'aria-labelledby': 'schools-title' },
    h('h2', { id: 'schools-title' }, 'Schools'),
    h('div', { className: 'toolbar' }, h('div', { id: 'status-filters', className: 'filters', role: 'group', 'aria-label': 'Show schools' }, renderStatusFilters(d)),
      h('span', { className: 'field' }, h('label', { for: 'school-sort' }, 'Sort by'), sort), check),
    h('p', { className: 'hint' }, 'Any time a school is on hold, open its report, click Download CSV of changes and review the sync changes to ensure they are expected. You can clear holds for one or more schools at once here.'),
    h('div', { id: 'schools-table' }, h('p', {}, 'Loading schools…')),
    h('nav', { id: 'schools-pager', className: 'toolbar pager', 'aria-label': 'Pages of schools' }),
    h('div', { className: 'toolbar' },
      h('span', { className: 'field' }, h('input', { type: 'checkbox', id: 'select-all', onchange: (e) => selectAllOnHold(d, e.target.checked) }), h('label', { for: 'select-all', id: 'select-all-label' }, 'Select all on hold')),
      h('span', { id: 'selected-count', className: 'hint', 'aria-live': 'polite' }),
      actionButton('clear-holds', { className: 'primary', 'data-testid': 'clear-holds', 'aria-describedby': 'selected-count', 'aria-haspopup': 'dialog', onclick: () => clearSelected(d) }, 'Clear holds'),
      applySafeSelectedButton(d)));
}

// Status filters as toggle buttons, each with the district's count (the API's `counts`).
function renderStatusFilters(d) {
  const counts = state.counts ?? {};
  const choices = [['on_hold', STATUS_WORDS.on_hold], ['connected', STATUS_WORDS.connected], ['disconnected', STATUS_WORDS.disconnected],
    ['not_connected', STATUS_WORDS.not_connected], ['', 'All']];
  return choices.map(([value, label]) => h('button', {
    type: 'button', id: `filter-${value || 'all'}`, className: 'filter', 'data-testid': `filter-${value || 'all'}`, 'aria-pressed': String(state.filter === value),
    onclick: () => { state.filter = value; firstSchoolsPage(d); },
  }, label, state.counts ? h('span', { className: 'count' }, ` (${(value ? counts[value] : counts.all) ?? 0})`) : ''));
}

// Which column the list is sorted by, for assistive technology (aria-sort on the column header).
const SORTED_COLUMN = { status: ['Status', 'ascending'], name: ['School', 'ascending'], '-name': ['School', 'descending'],
  last_synced_at: ['Last synced', 'ascending'], '-last_synced_at': ['Last synced', 'descending'] };

function shownRange(count) {
  const first = state.pageIndex * state.pageSize + 1;
  return count ? `${first}–${first + count - 1} of ${state.total}` : `0 of ${state.total}`;
}

function renderSchoolsTable(d, schools) {
  if (!schools.length) return h('p', {}, state.filter ? `No schools are ${STATUS_WORDS[state.filter]}.` : 'This district has no schools yet.');
  const heads = ['School', 'Select', 'Status', 'Hold reasons', 'Changes counted', ...CHANGE_KINDS.map(([, label]) => label), 'Last synced'];
  const [sortedBy, direction] = SORTED_COLUMN[state.sort] ?? [];
  return h('table', { className: 'schools' },
    h('caption', {}, `Schools${state.filter ? ` (${STATUS_WORDS[state.filter]})` : ''}: ${plural(state.total, 'school')}, ${SCHOOL_SORTS[state.sort].toLowerCase()}, showing ${shownRange(schools.length)}`),
    h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col', 'aria-sort': label === sortedBy ? direction : null }, label)))),
    h('tbody', {}, schools.map((school) => renderSchoolRow(d, school))));
}

// Previous / Next and the page size, under the table; the range shown is said politely.
function renderPager(d, count) {
  const size = h('select', { id: 'school-page-size', value: String(state.pageSize), onchange: (e) => { state.pageSize = Number(e.target.value); firstSchoolsPage(d); } },
    SCHOOL_PAGE_SIZES.map((n) => h('option', { value: String(n) }, String(n))));
  return [
    h('button', { type: 'button', id: 'schools-previous', 'data-testid': 'schools-previous', disabled: state.pageIndex === 0, onclick: () => turnSchoolsPage(d, -1) }, '← Previous'),
    h('span', { id: 'schools-range', 'data-testid': 'schools-range', 'aria-live': 'polite' }, `Schools ${shownRange(count)}`),
    h('button', { type: 'button', id: 'schools-next', 'data-testid': 'schools-next', disabled: !state.next, onclick: () => turnSchoolsPage(d, 1) }, 'Next →'),
    h('span', { className: 'field' }, h('label', { for: 'school-page-size' }, 'Schools per page'), size),
  ];
}

function firstSchoolsPage(d) {
  state.cursors = [null];
  state.pageIndex = 0;
  return refreshSchools(d);
}

async function turnSchoolsPage(d, step) {
  if (step > 0 && state.next) state.cursors[state.pageIndex + 1] = state.next;
  state.pageIndex = Math.max(0, state.pageIndex + step);
  await refreshSchools(d);
  // the button pressed may now be disabled (first or last page): keep the focus in the pager
  if (document.activeElement === document.body) ($('#schools-next:not([disabled])') ?? $('#schools-previous'))?.focus();
}

function renderSchoolRow(d, school) {
  const id = school.school_id;
  const selectable = school.status === 'on_hold' && school.pending_sync_id;
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('tr', { 'data-testid': `school-row-${id}`, 'data-status': school.status, 'data-pending-sync-id': school.pending_sync_id },
    h('th', { scope: 'row', 'data-label': 'School' }, h('a', { href: `#/districts/${enc(d)}/schools/${enc(id)}` }, school.name)),
    cell('Select', selectable ? h('input', {
      type: 'checkbox', id: `select-${id}`, 'data-testid': `select-${id}`, 'aria-label': `Select ${school.name}`,
      checked: state.selected.has(id), onchange: (e) => toggleSelected(school, e.target.checked),
    }) : null),
    cell('Status', statusBadge(school.status)),
    cell('Hold reasons', school.holds?.length ? h('ul', { className: 'plain' }, school.holds.map((hold) => h('li', {}, holdTitle(hold)))) : '—'),
    cell('Changes counted', changesLabel(school), safeNote(school)),
    CHANGE_KINDS.map(([kind, label]) => cell(label, school.changes_kind === 'none' ? '—' : h('span', { className: 'num' }, String(school.changes?.[kind] ?? 0)))),
    cell('Last synced', when(school.last_synced_at)));
}

function renderMatchSection(d, cleverSchools, notConnected) {
  const section = h('section', { 'aria-labelledby': 'match-title' }, h('h2', { id: 'match-title' }, 'Match schools'));
  if (!cleverSchools.length) {
    section.append(h('p', {}, 'Every Clever school shared with sis-sync is matched.'));
    return section;
  }
  const rows = cleverSchools.map((clever) => renderMatchRow(clever, notConnected));
  section.append(
    h('p', {}, 'You may have schools in your district that are not sending data. If this is intentional, you don\'t have to take any action. To connect a school, choose the school each Clever school belongs to, or add it as a new school, then click Match schools.'),
    h('form', { className: 'match', onsubmit: (e) => { e.preventDefault(); runAction('match-schools', () => matchSchools(e, d, cleverSchools)); } }, rows,
      actionButton('match-schools', { type: 'submit', className: 'primary', 'data-testid': 'match-schools' }, 'Match schools')));
  return section;
}

function renderMatchRow(clever, notConnected) {
  const id = `match-${clever.clever_school_id}`;
  const suggested = clever.suggestions ?? [];
  const others = notConnected.filter((s) => !suggested.some((g) => g.school_id === s.school_id));
  const ids = [clever.nces_id && `NCES ${clever.nces_id}`, clever.state_id && `state ID ${clever.state_id}`].filter(Boolean).join(', ');
  const select = h('select', { id, value: suggested[0]?.school_id ?? '' },
    h('option', { value: '' }, 'Leave unmatched for now'),
    suggested.length ? h('optgroup', { label: 'Suggested' }, suggested.map((s) => h('option', { value: s.school_id }, `${s.name}${MATCH_WORDS[s.match] ? ` (${MATCH_WORDS[s.match]})` : ''}`))) : null,
    others.length ? h('optgroup', { label: 'Not connected schools' }, others.map((s) => h('option', { value: s.school_id }, s.name))) : null,
    h('option', { value: '__new__' }, 'Add as a new school'));
  return h('div', { className: 'match-row' },
    h('label', { for: id }, h('strong', {}, clever.name), ids ? ` (${ids})` : '', ' in Clever is'), select);
}

// ------------------------------------------------------------------------------------- school report

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

function renderHold(hold) {
  const words = REASONS[hold.reason];
  const detail = hold.detail ?? {};
  const { facts, examples } = holdFacts(hold.reason, detail);
  const shown = examples.slice(0, EXAMPLES_SHOWN);
  const more = Math.max(examples.length, exampleTotal(hold.reason, detail)) - shown.length;
  return h('article', { className: 'hold', 'data-testid': `hold-${hold.reason}` },
    h('h3', {}, holdTitle(hold)),
    words ? h('p', {}, words.summary(detail)) : null,
    facts.length ? h('ul', {}, facts.map((fact) => h('li', {}, fact))) : null,
    shown.length ? [h('p', {}, 'For example:'), h('ul', { 'data-testid': 'hold-examples' }, shown.map((ex) => h('li', {}, ex))),
      more > 0 ? h('p', { className: 'hint' }, `and ${more} more: the CSV of changes lists every one.`) : null] : null,
    words ? [h('h4', {}, 'What to do first'), h('ul', {}, words.remedies.map((r) => h('li', {}, r)))] : null);
}

// How many records the hold is about, beyond the examples its rule kept.
function exampleTotal(reason, detail) {
  if (reason === 'large_removals') return Object.values(detail.types ?? {}).reduce((n, c) => n + (c.removed ?? 0) + (c.source_id_changed ?? 0), 0);
  if (reason === 'too_many_parent_connections') return detail.students ?? 0;
  if (reason === 'emergency_contacts') return detail.relationships ?? 0;
  return 0;
}

// The counts that fired the hold, from the detail its rule recorded (same facts as the e-mail).
function holdFacts(reason, detail) {
  const named = (detail.examples ?? []).filter((ex) => ex.name);
  if (reason === 'large_removals') {
    const facts = Object.entries(detail.types ?? {}).map(([type, c]) => {
      const gone = (c.removed ?? 0) + (c.source_id_changed ?? 0);
      const parts = [c.removed ? `${c.removed} removed` : '', c.source_id_changed ? `${c.source_id_changed} with a changed source ID` : ''].filter(Boolean);
      let fact = `${RECORD_TYPES[type]?.[1] ?? type}: ${parts.join(', ') || '0 removed'}`;
      if (c.previous) fact += ` (${gone} of ${c.previous}, ${c.pct ?? '?'}%)`;
      return fact;
    });
    const t = detail.thresholds;
    if (t) facts.push(`A school is held when at least ${t.removal_min_count} records of one type and ${t.removal_pct}% of them are removed or get a new source ID, or ${t.removal_max_count} whatever the share.`);
    const examples = named.map((ex) => `${ex.name} (${RECORD_TYPES[ex.record_type]?.[0] ?? ex.record_type}, ${ex.change === 'source_id_changed' ? 'source ID changed' : 'removed'})`);
    return { facts, examples };
  }
  if (reason === 'too_many_parent_connections') {
    const n = detail.students ?? 0;
    const facts = [`${plural(n, 'student')} now ${n === 1 ? 'has' : 'have'} ${detail.max_guardians ?? 6} or more guardians linked.`];
    const newOnes = (ex) => (ex.contacts ?? []).filter((c) => c.new).map((c) => c.name).filter(Boolean);
    return {
      facts,
      examples: named.map((ex) => `${ex.name}: ${ex.guardians} guardians (previously ${ex.previously})${newOnes(ex).length ? `; newly linked: ${newOnes(ex).join(', ')}` : ''}`),
    };
  }
  if (reason === 'emergency_contacts') {
    const byType = Object.entries(detail.by_type ?? {}).map(([type, count]) => `${type}: ${count}`).join(', ');
    const fact = `${plural(detail.relationships ?? 0, 'new contact relationship')} from ${plural(detail.contacts ?? 0, 'contact')}${byType ? ` (${byType})` : ''}.`;
    const student = (ex) => ex.student_name || ex.student;
    return { facts: [fact], examples: named.map((ex) => `${ex.name} (${ex.type} contact${student(ex) ? ` of ${student(ex)}` : ''})`) };
  }
  if (reason === 'after_pause') {
    const since = detail.pause_start ? [' from ', when(detail.pause_start)] : '';
    const until = detail.pause_end ? [' until ', when(detail.pause_end)] : '';
    return { facts: [h('span', {}, "Clever paused the district's sync", since, until, '.')], examples: [] };
  }
  return { facts: [], examples: [] };
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

// "83 removals, 24 updates": a change summary in words.
function changesInWords(changes) {
  const parts = [
    [changes?.removed, 'removal'], [changes?.updated, 'update'], [changes?.added, 'addition'], [changes?.source_id_changed, 'source ID change'],
  ].filter(([n]) => n > 0).map(([n, noun]) => plural(n, noun));
  return parts.length ? parts.join(', ') : 'no changes';
}

const CLEAR_HISTORY = {
  released: 'the changes are being applied',
  stale: 'refused: newer changes had arrived',
  not_on_hold: 'nothing to clear, the school was not on hold',
  disconnected: 'refused: the district was disconnected from Clever',
};

// One audit entry of a school as a sentence ("Hold released by admin@… — 83 removals applied").
const UNDO_HISTORY = {
  undoing: 'the changes are being taken back',
  not_latest: 'refused, it is not the latest applied sync',
  too_old: 'refused, it was applied more than 30 days ago',
};

function historyText(entry) {
  const by = entry.actor && entry.actor !== 'system' ? ` by ${entry.actor}` : '';
  const detail = entry.detail ?? {};
  const reasons = (detail.reasons ?? []).map(reasonTitle).join(', ');
  switch (entry.action) {
    case 'hold':
      return `Put on hold${reasons ? `: ${reasons}` : ''} — ${changesInWords(detail.changes)} pending`;
    case 'auto_release':
      return entry.result === 'unchanged'
        ? 'Hold released automatically: the data in Clever went back to what is applied — nothing applied'
        : `Hold released automatically: the data was fixed in Clever — ${changesInWords(detail.changes)} being applied`;
    case 'hold_released':
      return `Hold released${by} — ${changesInWords(detail.changes)} applied`;
    case 'sync_applied':
      return `Sync applied — ${changesInWords(detail.changes)} applied`;
    case 'clear_holds':
      return `Clear hold${by}: ${CLEAR_HISTORY[entry.result] ?? entry.result}`;
    case 'school_auto_matched':
      return `Matched automatically to Clever school ${entry.result}`;
    case 'schools_matched':
      return `Matched to a Clever school${by}`;
    case 'settings_updated':
      return `Hold settings changed${by}`;
    case 'check_now':
      return `Check for new Clever data${by}`;
    case 'apply_safe_changes':
      return `Apply safe changes now${by}: ${APPLY_SAFE_HISTORY[entry.result] ?? String(entry.result ?? '').replaceAll('_', ' ')}`;
    case 'safe_changes_applied':
      return `Safe changes applied${by || ' automatically'} — ${changesInWords(detail.changes)} applied; ${changesInWords(detail.held)} still on hold`;
    case 'sync_after_reconnect':
      return `Sync after I fixed it${by}`;
    case 'undo_sync':
      return `Undo this sync${by}: ${UNDO_HISTORY[entry.result] ?? String(entry.result ?? '').replaceAll('_', ' ')}`;
    case 'sync_undone':
      return `Sync undone${by} — ${changesInWords(detail.changes)} taken back; on hold for review`;
    default:
      return `${String(entry.action ?? '').replaceAll('_', ' ')}${by}${entry.result ? `: ${String(entry.result).replaceAll('_', ' ')}` : ''}`;
  }
}

function renderHistory(history) {
  return h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'),
    history.length
      ? h('ol', { className: 'history', 'data-testid': 'history' }, history.map((entry) => h('li', {}, when(entry.at), ' — ', historyText(entry))))
      : h('p', {}, 'Nothing has happened to this school yet.'));
}

// ------------------------------------------------------------------------------------- actions

// Actions whose request runs. Their buttons (data-action) are disabled until it has ended, and a
// second start meanwhile (a double click, a button drawn again by a refresh) does nothing: one
// click, one request.
const running = new Set();

function actionButton(key, props, ...children) {
  return h('button', { type: 'button', 'data-action': key, disabled: running.has(key), 'aria-busy': running.has(key) ? 'true' : undefined, ...props }, ...children);
}

function markBusy(key, busy) {
  document.querySelectorAll(`[data-action="${key}"]`).forEach((button) => {
    button.disabled = busy;
    if (busy) button.setAttribute('aria-busy', 'true');
    else button.removeAttribute('aria-busy');
  });
}

async function runAction(key, action) {
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

// A modal confirmation: a native <dialog> (focus moves into it and stays there, Escape cancels,
// the page behind is inert). Resolves once, with the first answer; the dialog is gone by then.
function confirmDialog({ title, text, details = [], yes, no = 'Cancel', focusNo = false }) {
  document.getElementById('confirm-dialog')?.remove();
  return new Promise((resolve) => {
    let answered = false;
    const answer = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const yesButton = h('button', { type: 'button', className: 'primary', 'data-testid': 'confirm-yes', onclick: () => answer(true) }, yes);
    const noButton = h('button', { type: 'button', 'data-testid': 'confirm-cancel', onclick: () => answer(false) }, no);
    const dialog = h('dialog', {
      id: 'confirm-dialog', className: 'confirm', 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text',
      oncancel: (e) => { e.preventDefault(); answer(false); },
    },
    h('h2', { id: 'confirm-title' }, title),
    h('p', { id: 'confirm-text' }, text),
    details.length ? h('ul', { 'data-testid': 'confirm-details' }, details.map((line) => h('li', {}, line))) : null,
    h('div', { className: 'toolbar' }, yesButton, noButton));
    $('#main').append(dialog);
    dialog.showModal();
    (focusNo ? noButton : yesButton).focus();
  });
}

const confirmCheck = () => confirmDialog({ title: 'Check for new Clever data?', text: CONFIRM_TEXT, yes: 'Yes, Continue' });

// Check for new Clever data: asked first, then one sync at a time whatever the clicks.
function checkCleverAction(d, schoolId) {
  return runAction('check-clever', async () => {
    if (await confirmCheck()) await checkClever(d, schoolId);
  });
}

// Holds whose recommended remedy is at the source (the article: fix it in Clever, then Check for new
// Clever data); for these Clear hold is the second choice.
const SOURCE_REMEDY = new Set(['emergency_contacts', 'too_many_parent_connections']);
const sourceRemedyFirst = (school) => (school.holds ?? []).some((hold) => SOURCE_REMEDY.has(hold.reason));

// "83 removals and 24 updates": what clearing a school's hold applies (its pending change set).
function appliedWords(changes) {
  const parts = [[changes?.removed, 'removal'], [changes?.updated, 'update'], [changes?.added, 'addition'], [changes?.source_id_changed, 'source ID change']]
    .filter(([n]) => n > 0).map(([n, noun]) => plural(n, noun));
  if (!parts.length) return 'the held changes';
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

const pendingChanges = (school) => (!school.changes_kind || school.changes_kind === 'pending' ? school.changes : undefined);

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

function toggleSelected(school, on) {
  if (on) state.selected.set(school.school_id, school);
  else state.selected.delete(school.school_id);
  if (!on && $('#select-all')) $('#select-all').checked = false;
  updateSelectedCount();
}

// Select all on hold means every school of the district on hold, as before the list was paged: an
// admin who ticks it expects Clear holds to act on all N, not on the page in view. The held schools
// (and the change sets shown for them) come from the API, every page; the actions wait for it.
function selectAllOnHold(d, on) {
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

function updateSelectedCount() {
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
async function selectedSchools() {
  await state.selecting;
  return [...state.selected.values()];
}

function clearSelected(d) {
  return runAction('clear-holds', async () => {
    const schools = await selectedSchools();
    if (!schools.length) return showAlert('Select at least one school on hold, then click Clear holds.');
    if (!(await confirmClear(schools))) return undefined;
    return clearHolds(d, schools, () => refreshDistrict(d));
  });
}

function clearOne(d, school) {
  return runAction('clear-hold', async () => {
    if (await confirmClear([school])) await clearHolds(d, [school], () => showSchool(d, school.school_id, true));
  });
}

const SOURCE_REMEDY_WORDS = {
  emergency_contacts: 'Remove the emergency and secondary contacts from the data shared with sis-sync in Clever (your SIS administrator or Clever Support can help), then click Check for new Clever data. Clear hold only if these contacts should receive messages.',
  too_many_parent_connections: "Remove the guardians who should not be linked to the student in Clever, then click Check for new Clever data. Clear hold only if you've confirmed all the guardians should be linked.",
};

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
function undoOne(d, school) {
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

async function checkClever(d, schoolId) {
  await guarded(async () => {
    const { sync_id: syncId, already_running: running } = await api.sync(d);
    showResults([running ? `A sync of the district was already running (sync ${syncId}): following it.`
      : `Checking Clever for new data${syncId ? ` (sync ${syncId})` : ''}. The statuses update when it is processed.`]);
    await followSync(d, schoolId, syncId);
  });
}

async function reconnect(d) {
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

// Refresh every 2 s until done() or ~30 s; a newer poll or a page change cancels an older one.
async function poll(refresh, done, doneText, timeoutText) {
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

function stopPolling() {
  state.pollId += 1;
}

async function matchSchools(event, d, cleverSchools) {
  event.preventDefault();
  const matches = cleverSchools
    .map((clever) => ({ clever, value: document.getElementById(`match-${clever.clever_school_id}`).value }))
    .filter(({ value }) => value)
    .map(({ clever, value }) => (value === '__new__' ? { clever_school_id: clever.clever_school_id } : { clever_school_id: clever.clever_school_id, school_id: value }));
  if (!matches.length) return showAlert('Choose a school, or Add as a new school, for at least one Clever school.');
  const chosen = matches.map((m) => m.school_id).filter(Boolean);
  if (new Set(chosen).size !== chosen.length) return showAlert('Each school can be matched to one Clever school only.');
  return guarded(async () => {
    const response = await api.match(d, matches);
    const lines = (response.results ?? []).map((r) => `${r.clever_school_id}: ${String(r.result ?? 'matched').replaceAll('_', ' ')}`);
    showResults(lines.length ? lines : [`${plural(matches.length, 'Clever school')} matched.`]);
    await showDistrict(d);
  });
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

// ------------------------------------------------------------------------------------- apply safe changes

// Apply safe changes now (DESIGN §7): the part of a held change set that trips no rule (additions and
// updates no rule fires on) is applied at once; the rest stays on hold with the same sync, so that the
// report, its counts and the CSV then list only what still waits, and Clear hold applies the rest.
const APPLY_SAFE_RESULTS = {
  applied_safe: (name) => `${name}: the safe changes are being applied. The rest stays on hold for your review.`,
  nothing_safe: (name) => `${name}: nothing applied. Every change waits for review, or the safe changes were applied already.`,
  stale: (name) => `Newer changes arrived for ${name}: nothing applied. Review them, then try again.`,
  not_on_hold: (name) => `${name}: nothing applied, the school is not on hold.`,
  disconnected: (name) => `${name}: nothing applied. The district is disconnected from Clever and nothing is applied until the connection works again: check your settings in Clever, then click I fixed it.`,
};
// The same results in a school's history (each school's entry carries its own result).
const APPLY_SAFE_HISTORY = {
  applied_safe: 'the safe changes are being applied',
  applying: 'the safe changes are being applied',
  nothing_safe: 'nothing applied, nothing was safe to apply',
  stale: 'refused: newer changes had arrived',
  not_on_hold: 'nothing applied, the school was not on hold',
  disconnected: 'refused: the district was disconnected from Clever',
};
const NOTHING_SAFE = (name) => `${name}: nothing safe to apply. Every change waits for review.`;

const andWords = (parts) => (parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`);
const countWords = (counts) => counts.filter(([n]) => n > 0).map(([n, one, many]) => `${n} ${n === 1 ? one : many ?? `${one}s`}`);

// What Apply safe changes does at a held school, or null when none of its changes is safe: the
// API's safe_changes counts them. All its additions and updates are safe unless a rule fires on some
// (a blocked contact type, too many guardians): then it says how many of them apply.
function safeOffer(school) {
  const changes = pendingChanges(school);
  const safe = school.safe_changes ?? 0;
  if (school.status !== 'on_hold' || !school.pending_sync_id || !changes || safe <= 0) return null;
  const { added = 0, updated = 0, removed = 0, source_id_changed: rekeyed = 0 } = changes;
  const waiting = added + updated - safe;
  const apply = waiting > 0 ? `${safe} of the ${added + updated} additions and updates`
    : andWords(countWords([[added, 'addition'], [updated, 'update']]));
  const stay = countWords([[removed, 'removal'], [rekeyed, 'source ID change'],
    [waiting, 'addition or update that trips a rule', 'additions and updates that trip a rule']]);
  const staying = removed + rekeyed + Math.max(waiting, 0);
  return { apply, stay: stay.length ? `the ${andWords(stay)} ${staying === 1 ? 'stays' : 'stay'}` : 'the rest stays' };
}

const offerSentence = (offer) => `Apply ${offer.apply} now; ${offer.stay} on hold.`;

// On the school report: the offer in words and its button, wherever the held school has safe changes.
function renderApplySafeOffer(d, school) {
  const offer = safeOffer(school);
  if (!offer) return null;
  return h('div', { className: 'apply-safe', 'data-testid': 'apply-safe-offer' },
    h('p', { id: 'apply-safe-words' }, h('strong', {}, offerSentence(offer)),
      ' These changes trip no hold rule: new and updated people, contacts and classes are synced now while you review the rest.'),
    h('div', { className: 'toolbar' },
      actionButton('apply-safe', { 'data-testid': 'apply-safe', 'aria-haspopup': 'dialog', 'aria-describedby': 'apply-safe-words', onclick: () => applySafeOne(d, school) }, 'Apply safe changes now')));
}

// In the schools table: how many changes of a held school are safe to apply now.
function safeNote(school) {
  const safe = safeOffer(school) ? school.safe_changes : 0;
  return safe ? h('div', { className: 'hint', 'data-testid': `safe-${school.school_id}` }, `${plural(safe, 'safe change')} can apply now`) : null;
}

function applySafeSelectedButton(d) {
  return actionButton('apply-safe-selected', { 'data-testid': 'apply-safe-selected', 'aria-describedby': 'selected-count', 'aria-haspopup': 'dialog', onclick: () => applySafeSelected(d) }, 'Apply safe changes now');
}

const STAYS_WORDS = 'stays on hold for your review: the report and its CSV of changes then list only that, and Clear hold applies it.';

function confirmApplySafe(schools, skipped) {
  if (schools.length === 1 && !skipped.length) {
    const [school] = schools;
    const offer = safeOffer(school);
    return confirmDialog({
      title: `Apply ${offer.apply} at ${school.name} now?`,
      text: `These changes trip no hold rule. Everything else ${STAYS_WORDS}`,
      details: [offerSentence(offer)],
      yes: 'Apply safe changes',
      focusNo: true,
    });
  }
  return confirmDialog({
    title: `Apply the safe changes at ${plural(schools.length, 'school')} now?`,
    text: `These changes trip no hold rule. At each school everything else ${STAYS_WORDS}`,
    details: [...schools.map((s) => `${s.name}: ${offerSentence(safeOffer(s))}`), ...skipped.map((s) => NOTHING_SAFE(s.name))],
    yes: `Apply safe changes at ${plural(schools.length, 'school')}`,
    focusNo: true,
  });
}

function applySafeOne(d, school) {
  return runAction('apply-safe', async () => {
    if (await confirmApplySafe([school], [])) await applySafe(d, [school], [], () => showSchool(d, school.school_id, true));
  });
}

function applySafeSelected(d) {
  return runAction('apply-safe-selected', async () => {
    const selected = await selectedSchools();
    if (!selected.length) return showAlert('Select at least one school on hold, then click Apply safe changes now.');
    const offered = selected.filter((s) => safeOffer(s));
    const skipped = selected.filter((s) => !safeOffer(s));
    if (!offered.length) return showAlert(`None of the selected schools has safe changes to apply: every change waits for review. ${skipped.map((s) => s.name).join(', ')}.`);
    if (!(await confirmApplySafe(offered, skipped))) return undefined;
    return applySafe(d, offered, skipped, () => refreshDistrict(d));
  });
}

// Sends the schools' pending sync ids, says what happened to each school, then refreshes and follows
// the ones started until their safe part is applied (nothing safe left: the page shows only what waits).
async function applySafe(d, schools, skipped, refresh) {
  const body = schools.map((s) => ({ school_id: s.school_id, sync_id: s.pending_sync_id }));
  const nameOf = (id) => schools.find((s) => s.school_id === id)?.name ?? id;
  let started = [];
  await guarded(async () => {
    const { results = [] } = await api.applySafe(d, body);
    showResults([...results.map((r) => (APPLY_SAFE_RESULTS[r.result] ?? ((n) => `${n}: ${r.result}`))(nameOf(r.school_id))),
      ...skipped.map((s) => NOTHING_SAFE(s.name))]);
    state.selected.clear();
    started = results.filter((r) => r.result === 'applied_safe');
  });
  if (!token.get()) return; // the session ended (the sign-in page is showing)
  await guarded(refresh, { clearAlert: false });
  if (started.length) {
    const done = started.length === 1 ? `${nameOf(started[0].school_id)}: safe changes applied. What still waits for review is on hold.`
      : `Safe changes applied at ${plural(started.length, 'school')}. What still waits for review is on hold.`;
    await guarded(() => poll(refresh, () => started.every(safeApplied), done,
      'The safe changes are still being applied. Refresh the page in a minute.'), { clearAlert: false });
  }
}

// A school's safe part is applied when nothing safe is left of that sync (or it is no longer pending).
function safeApplied({ school_id: id, sync_id: syncId }) {
  const school = state.schools.find((s) => s.school_id === id);
  if (!school) return Boolean(state.filter) && state.filter !== 'on_hold';
  return school.pending_sync_id !== syncId || school.safe_changes === 0;
}

// ------------------------------------------------------------------------------------- loading pages

async function showDistrict(d) {
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
async function refreshDistrict(d) {
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

// Loads the page of schools in view (filter, order, page) and re-draws the list, its filters and its
// pager in place. A page left empty (its schools changed status) falls back to the first page.
async function refreshSchools(d) {
  const query = { status: state.filter, sort: state.sort, limit: state.pageSize, cursor: state.cursors[state.pageIndex] };
  let page = await api.schools(d, query);
  if (!page.schools?.length && state.pageIndex > 0) {
    state.cursors = [null];
    state.pageIndex = 0;
    page = await api.schools(d, { ...query, cursor: null });
  }
  const { schools = [], next_cursor: next = null, total = schools.length, counts = null } = page;
  Object.assign(state, { schools, next, total, counts });
  // a ticked school shown again: keep what is shown now (its newest change set), or drop it if no longer held
  schools.forEach((s) => {
    if (!state.selected.has(s.school_id)) return;
    if (s.status === 'on_hold' && s.pending_sync_id) state.selected.set(s.school_id, s);
    else state.selected.delete(s.school_id);
  });
  const focusedId = document.activeElement?.id;
  $('#schools-table')?.replaceChildren(renderSchoolsTable(d, schools));
  $('#status-filters')?.replaceChildren(...renderStatusFilters(d));
  $('#schools-pager')?.replaceChildren(...renderPager(d, schools.length));
  if (focusedId && document.activeElement === document.body) document.getElementById(focusedId)?.focus();
  const all = $('#select-all');
  if (all) all.checked = Boolean(counts?.on_hold) && state.selected.size >= counts.on_hold;
  updateSelectedCount();
}

async function showSchool(d, s, inPlace = false) {
  if (!inPlace) setView(h('p', { 'aria-busy': 'true' }, 'Loading the SIS sync report…'));
  const [district, school] = await Promise.all([api.district(d), api.school(d, s)]);
  state.district = district;
  state.schools = [school];
  const focusedTestId = document.activeElement?.dataset?.testid;
  setView(...renderReport(d, district, school));
  document.title = `${school.name}: SIS sync report`;
  if (focusedTestId) ($(`[data-testid="${focusedTestId}"]`) ?? $('#main')).focus();
}

// ------------------------------------------------------------------------------------- sync history

const TRIGGER_WORDS = {
  schedule: 'Scheduled sync',
  manual: 'Check for new Clever data',
  reconnect: 'I fixed it',
  operator: 'Sync started by an operator',
};
const SYNC_STATUS_WORDS = { succeeded: 'Finished', failed: 'Failed', running: 'Running' };

// Each sync of the district, newest first (GET …/syncs, a page at a time): when, what started it,
// how it ended, and the schools it put on hold, applied and released.
async function showSyncHistory(d) {
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

// ------------------------------------------------------------------------------------- settings

// The district's hold thresholds and sync settings (PATCH …/settings), with a preview of what they
// would have held (POST …/settings/preview) before they are saved. The server validates both the
// same way; the checks here only answer sooner, and a server refusal is shown at its field too.
const SETTINGS_FIELDS = [
  { name: 'removal_pct', group: 'thresholds', kind: 'number', min: 0.01, max: 100, step: 0.01, label: 'Removal share (%)',
    hint: 'Hold a school when this share of a record type (students, teachers, staff, contacts, classes) is removed in one sync.' },
  { name: 'removal_min_count', group: 'thresholds', kind: 'integer', min: 1, max: 1000000, label: 'Fewest removals that count',
    hint: 'A share is held only when at least this many records of the type are removed.' },
  { name: 'removal_max_count', group: 'thresholds', kind: 'integer', min: 1, max: 1000000, label: 'Removals always held',
    hint: 'This many removals of a type are held whatever their share. At least the fewest removals that count.' },
  { name: 'max_guardians', group: 'thresholds', kind: 'integer', min: 2, max: 100, label: 'Linked contacts per student',
    hint: 'Hold when a student newly has this many linked contacts (parents, guardians).' },
  { name: 'blocked_contact_types', group: 'thresholds', kind: 'list', label: 'Contact types to hold',
    hint: 'Comma-separated Clever contact types, e.g. Emergency, Secondary. Leave empty to hold none.' },
  { name: 'sync_interval_minutes', kind: 'integer', min: 5, max: 10080, label: 'Sync every (minutes)',
    hint: 'How often sis-sync asks Clever for new data: 5 minutes to 7 days (10080).' },
  { name: 'apply_safe_changes_automatically', kind: 'boolean', label: 'Apply safe changes automatically',
    hint: 'While a school is on hold, apply its new students, teachers and classes at once; only what tripped a rule waits.' },
];
const MAX_CONTACT_TYPES = 20;
const HAPPENED_WORDS = { on_hold: 'On hold now', applying: 'Being applied', applied: 'Applied', released: 'Released by an admin' };

const settingsApi = {
  save: (d, patch) => request(`${districtPath(d)}/settings`, { method: 'PATCH', body: patch }),
  preview: (d, patch) => post(`${districtPath(d)}/settings/preview`, patch),
};

const settingValue = (settings, field) => (field.group ? settings[field.group]?.[field.name] : settings[field.name]);

async function showSettings(d) {
  setView(h('p', { 'aria-busy': 'true' }, 'Loading the settings…'));
  const district = await api.district(d);
  state.district = district;
  renderNav();
  document.title = `${district.name}: settings`;
  const fields = SETTINGS_FIELDS.filter((field) => settingValue(district.settings, field) !== undefined);
  const preview = h('div', { id: 'settings-preview', 'data-testid': 'settings-preview', 'aria-live': 'polite' });
  const form = h('form', { id: 'settings-form', 'data-testid': 'settings-form', novalidate: true,
    onsubmit: (event) => { event.preventDefault(); runAction('save-settings', () => guarded(() => saveSettings(d, form, fields))); } },
  h('p', { className: 'hint', id: 'settings-summary' }, 'Any change applies from the next sync. Preview shows what it would have done to the syncs already made.'),
  fields.map((field) => settingInput(field, settingValue(district.settings, field))),
  h('div', { className: 'toolbar' },
    actionButton('preview-settings', { type: 'button', 'data-testid': 'preview-settings',
      onclick: () => runAction('preview-settings', () => guarded(() => previewSettings(d, form, fields, preview))) }, 'Preview'),
    actionButton('save-settings', { type: 'submit', className: 'primary', 'data-testid': 'save-settings' }, 'Save settings')));
  setView(
    h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: `#/districts/${enc(d)}`, className: 'back' }, `← Back to ${district.name} schools`)),
    h('p', { className: 'meta', 'data-testid': 'district-name' }, district.name),
    h('h1', {}, 'Settings'),
    h('section', { 'aria-labelledby': 'settings-form-title' }, h('h2', { id: 'settings-form-title' }, 'When a sync is held'), form),
    preview);
}

function settingInput(field, value) {
  const id = `setting-${field.name}`;
  const described = `${id}-hint ${id}-error`;
  const common = { id, name: field.name, 'data-testid': id, 'aria-describedby': described };
  let input;
  if (field.kind === 'boolean') input = h('input', { ...common, type: 'checkbox', checked: Boolean(value) });
  else if (field.kind === 'list') input = h('input', { ...common, type: 'text', value: (value ?? []).join(', '), autocomplete: 'off' });
  else {
    input = h('input', { ...common, type: 'number', inputmode: field.kind === 'integer' ? 'numeric' : 'decimal',
      min: field.min, max: field.max, step: field.step ?? 1, required: true, value: String(value) });
  }
  return h('div', { className: `field field-${field.kind}` },
    h('label', { for: id }, field.label),
    input,
    h('p', { className: 'hint', id: `${id}-hint` }, field.hint),
    h('p', { className: 'field-error', id: `${id}-error`, 'data-testid': `${id}-error` }));
}

// The form's values as a PATCH body, or the errors by field name (none sent to the server then).
function readSettings(form, fields) {
  const thresholds = {};
  const patch = {};
  const errors = {};
  for (const field of fields) {
    const input = form.elements.namedItem(field.name);
    let value;
    if (field.kind === 'boolean') value = input.checked;
    else if (field.kind === 'list') {
      value = [...new Set(input.value.split(',').map((t) => t.trim()).filter(Boolean))];
      if (value.length > MAX_CONTACT_TYPES) errors[field.name] = `List at most ${MAX_CONTACT_TYPES} contact types.`;
      else if (value.some((t) => t.length > 64)) errors[field.name] = 'A contact type is at most 64 characters long.';
    } else {
      const text = input.value.trim();
      value = Number(text);
      const whole = field.kind === 'integer';
      if (text === '' || !Number.isFinite(value)) errors[field.name] = 'Enter a number.';
      else if (whole && !Number.isInteger(value)) errors[field.name] = 'Enter a whole number.';
      else if (value < field.min || value > field.max) errors[field.name] = `Enter a number from ${field.min} to ${field.max.toLocaleString('en-US')}.`;
    }
    if (field.group) thresholds[field.name] = value;
    else patch[field.name] = value;
  }
  if (!errors.removal_min_count && !errors.removal_max_count && thresholds.removal_max_count < thresholds.removal_min_count) {
    errors.removal_max_count = 'Must be at least the fewest removals that count.';
  }
  return { patch: { ...patch, thresholds }, errors };
}

function showFieldErrors(form, fields, errors) {
  for (const field of fields) {
    const input = form.elements.namedItem(field.name);
    const message = errors[field.name] ?? '';
    form.querySelector(`#setting-${field.name}-error`).textContent = message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  const first = fields.find((field) => errors[field.name]);
  if (first) {
    form.elements.namedItem(first.name).focus();
    showAlert(`Check the settings: ${plural(Object.keys(errors).length, 'field')} need${Object.keys(errors).length === 1 ? 's' : ''} a change.`);
  }
  return Boolean(first);
}

// A refusal of the server (422) goes to the field it names; one naming no field goes to the alert.
async function withServerChecks(form, fields, call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 422) throw error;
    const field = fields.find((f) => new RegExp(`\\b${f.name}\\b`).test(error.message));
    if (!field) throw error;
    showFieldErrors(form, fields, { [field.name]: `Not accepted: ${error.message}` });
    return undefined;
  }
}

function checkedSettings(form, fields) {
  const { patch, errors } = readSettings(form, fields);
  return showFieldErrors(form, fields, errors) ? undefined : patch;
}

async function saveSettings(d, form, fields) {
  const patch = checkedSettings(form, fields);
  if (!patch) return;
  const saved = await withServerChecks(form, fields, () => settingsApi.save(d, patch));
  if (!saved) return;
  state.district = saved;
  showResults(['Settings saved. They apply from the next sync.']);
}

async function previewSettings(d, form, fields, region) {
  const patch = checkedSettings(form, fields);
  if (!patch) return;
  region.replaceChildren(h('p', { 'aria-busy': 'true' }, 'Judging the last syncs with these settings…'));
  const result = await withServerChecks(form, fields, () => settingsApi.preview(d, patch));
  if (!result) { region.replaceChildren(); return; }
  region.replaceChildren(renderSettingsPreview(result, describeChange(state.district?.settings, patch)));
}

// "5 %", "at least 5 removals", …: what the admin changed, in the words of the preview's sentence.
function describeChange(current, patch) {
  const was = current?.thresholds ?? {};
  const now = patch.thresholds;
  const words = [];
  if (now.removal_pct !== was.removal_pct) words.push(`${now.removal_pct} %`);
  if (now.removal_min_count !== was.removal_min_count) words.push(`at least ${plural(now.removal_min_count, 'removal')}`);
  if (now.removal_max_count !== was.removal_max_count) words.push(`${now.removal_max_count} removals always held`);
  if (now.max_guardians !== was.max_guardians) words.push(`${now.max_guardians} linked contacts`);
  if ((now.blocked_contact_types ?? []).join('|') !== (was.blocked_contact_types ?? []).join('|')) {
    words.push(now.blocked_contact_types.length ? `holding ${now.blocked_contact_types.join(', ')} contacts` : 'no contact types held');
  }
  return words.length ? `With ${words.join(', ')}` : 'With these settings';
}

function previewSentence(summary, change) {
  const parts = [];
  if (summary.newly_held) parts.push(`${plural(summary.newly_held, 'more school')} would have been held`);
  if (summary.no_longer_held) parts.push(`${plural(summary.no_longer_held, 'school')} fewer would have been held`);
  const said = parts.length ? parts.join(' and ') : 'no school would have been held differently';
  return `${change}: ${said} in the last three syncs.`;
}

function renderSettingsPreview(result, change) {
  const { summary, schools = [] } = result;
  const differs = (one) => one.effect !== 'same' && one.effect !== 'unknown'; // unknown ones are counted below
  const differing = schools.filter((school) => school.change_sets.some(differs));
  const heads = ['School', 'Sync', 'What happened', 'Now', 'With these settings'];
  const verdict = (v) => (!v ? 'Unknown' : v.held ? `Held: ${v.reasons.map(reasonTitle).join(', ')}` : 'Not held');
  const rows = differing.flatMap((school) => school.change_sets.filter(differs).map((one) =>
    h('tr', { 'data-testid': `preview-${school.school_id}-${one.sync_id}`, 'data-effect': one.effect },
      h('th', { scope: 'row', 'data-label': 'School' }, school.name),
      h('td', { 'data-label': 'Sync' }, h('code', {}, one.sync_id)),
      h('td', { 'data-label': 'What happened' }, HAPPENED_WORDS[one.happened] ?? one.happened),
      h('td', { 'data-label': 'Now' }, verdict(one.current)),
      h('td', { 'data-label': 'With these settings' }, h('strong', {}, verdict(one.proposed)), one.effect === 'reasons_changed' ? ' (other reasons)' : ''))));
  return h('section', { 'aria-labelledby': 'preview-title' },
    h('h2', { id: 'preview-title' }, 'Preview (not saved)'),
    h('p', { 'data-testid': 'preview-sentence' }, previewSentence(summary, change)),
    h('p', { className: 'hint' }, `Each school's pending sync and its last three applied syncs, judged again: ${plural(summary.change_sets, 'sync')} of ${plural(summary.schools, 'school')}.`
      + (summary.unknown ? ` ${plural(summary.unknown, 'older sync')} no longer stored could not be judged.` : '')),
    rows.length
      ? h('table', { className: 'preview', 'data-testid': 'preview-table' }, h('caption', {}, 'Syncs these settings would have decided differently'),
        h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col' }, label)))), h('tbody', {}, rows))
      : h('p', {}, 'Every sync would have been decided as it was.'));
}

// ------------------------------------------------------------------------------------- router

function currentRoute() {
  const [path, query = ''] = window.location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'districts' || !parts[1]) return {};
  // `#/districts/{id}?status=on_hold`: the hold e-mail's link to every school on hold opens the list filtered
  const status = new URLSearchParams(query).get('status');
  return { districtId: parts[1], schoolId: parts[2] === 'schools' ? parts[3] : undefined, syncs: parts[2] === 'syncs', settings: parts[2] === 'settings', status: status in STATUS_WORDS ? status : undefined };
}

async function route() {
  stopPolling();
  if (!token.get()) return sessionStorage.getItem(SIGNED_OUT_KEY) ? renderSignedOut() : signInAgain();
  return guarded(async () => {
    if (!state.me) state.me = await api.me();
    renderNav();
    const { districtId, schoolId, syncs, settings, status } = currentRoute();
    if (!districtId) return openFirstDistrict();
    if (status && !schoolId) Object.assign(state, { filter: status, listOf: null }); // a fresh, filtered list
    $('#main').focus({ preventScroll: true });
    if (syncs) return loadPage(() => showSyncHistory(districtId));
    if (settings) return loadPage(() => showSettings(districtId));
    return loadPage(() => (schoolId ? showSchool(districtId, schoolId) : showDistrict(districtId)));
  });
}

// A page that cannot load says why in its place: one error, no "Loading…" left behind. (A failure
// once the page is drawn goes to the alert as any other; an ended session to the sign-in page.)
async function loadPage(load) {
  try {
    return await load();
  } catch (error) {
    if ((error instanceof ApiError && error.status === 401) || !$('#view > [aria-busy="true"]')) throw error;
    if (!(error instanceof ApiError)) console.error(error);
    return renderLoadProblem(error);
  }
}

function renderLoadProblem(error) {
  const { districtId, schoolId } = currentRoute();
  const notFound = error instanceof ApiError && error.status === 404;
  let text = error.message || String(error);
  if (notFound) {
    text = schoolId
      ? `The school “${schoolId}” cannot be found in the district “${districtId}”, or you are not one of the district's administrators.`
      : `The district “${districtId}” cannot be found, or you are not one of its administrators.`;
  }
  const yours = state.me?.district_ids ?? [];
  document.title = 'Not found: SIS sync dashboard';
  showAlert('');
  setView(h('section', { className: 'card', 'data-testid': 'load-problem', 'aria-labelledby': 'load-problem-title' },
    h('h1', { id: 'load-problem-title' }, notFound ? `This ${schoolId ? 'school' : 'district'} cannot be found` : 'This page cannot be shown'),
    h('p', { role: 'alert' }, text),
    yours.length ? h('p', {}, h('a', { href: `#/districts/${enc(yours[0])}` }, yours.length > 1 ? 'Go to your districts' : 'Go to your district')) : null));
}

function openFirstDistrict() {
  const [first] = state.me.district_ids ?? [];
  if (!first) return setView(h('h1', {}, 'No district'), h('p', {}, 'Your account is not an administrator of any district yet.'));
  window.location.replace(`#/districts/${enc(first)}`);
  return undefined;
}

function start() {
  $('.skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    $('#main').focus();
  });
  window.addEventListener('hashchange', () => {
    $('#results').replaceChildren();
    route();
  });
  const answer = new URLSearchParams(window.location.search);
  if (!answer.has('code') && !answer.has('error')) return route();
  return finishSignIn(answer).then(route, (error) => renderSignInProblem(error.message, error instanceof SignInRefused));
}

start();
