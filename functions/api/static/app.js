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
      'If the data removals are expected for specific schools, select the schools and click Clear holds.',
    ],
  },
  too_many_parent_connections: {
    title: 'Too many parent connections',
    summary: (detail) => `Students have ${numberWord(detail.max_guardians ?? 6)} or more guardians associated with them.`,
    remedies: [
      "If the student shouldn't have that many guardians connected to them, remove the associations in Clever and click Check for new Clever data to sync again.",
      "If you've confirmed all the guardians and their numbers should be linked to the student, then select the school and Clear holds.",
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
      'If these contacts should receive messages, select the school and click Clear holds.',
    ],
  },
  disconnected: {
    title: 'Disconnected',
    summary: () => 'Your Clever sync is placed on hold when sis-sync cannot connect with Clever.',
    remedies: [
      'Check your settings in Clever, then click I fixed it on the SIS sync report. sis-sync will attempt to reconnect with Clever and process the sync immediately.',
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
const MATCH_WORDS = { nces_id: 'same NCES id', state_id: 'same state id', name: 'similar name' };

const state = { me: null, district: null, schools: [], filter: '', selected: new Set(), pollId: 0 };

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
  schools: (d, status) => request(`${districtPath(d)}/schools${status ? `?status=${enc(status)}` : ''}`),
  school: (d, s) => request(`${districtPath(d)}/schools/${enc(s)}`),
  cleverSchools: (d) => request(`${districtPath(d)}/clever-schools`),
  clearHolds: (d, schools) => post(`${districtPath(d)}/holds/clear`, { schools }),
  sync: (d) => post(`${districtPath(d)}/sync`, { confirm: true }),
  reconnect: (d) => post(`${districtPath(d)}/reconnect`),
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
      h('code', {}, [error.code, error.message].filter(Boolean).join(': '))) : null,
    h('p', {}, h('strong', {}, 'Check your settings in Clever.'), ' Make sure of the following:'),
    h('ul', {}, DISCONNECTED_CHECKS.map((check) => h('li', {}, check))),
    h('p', {}, "Once you've addressed the above, click I fixed it. sis-sync will attempt to reconnect with Clever and process the sync immediately."),
    h('button', { type: 'button', className: 'primary', 'data-testid': 'i-fixed-it', onclick: () => reconnect(district.district_id) }, 'I fixed it'));
}

function renderDistrictHeader(district) {
  return [
    h('h1', { 'data-testid': 'district-name' }, district.name),
    h('p', { className: 'meta' }, 'Clever connection: ', statusBadge(district.connection), ' · Last sync: ', when(district.last_sync_at)),
  ];
}

function renderSchoolsSection(d) {
  const filter = h('select', { id: 'status-filter', 'data-testid': 'status-filter', value: state.filter, onchange: (e) => { state.filter = e.target.value; refreshSchools(d); } },
    h('option', { value: '' }, 'All'), Object.entries(STATUS_WORDS).map(([value, label]) => h('option', { value }, label)));
  const check = h('button', { type: 'button', 'data-testid': 'check-clever', onclick: (e) => confirmStep(e.currentTarget, () => checkClever(d)) }, 'Check for new Clever data');
  return h('section', { 'aria-labelledby': 'schools-title' },
    h('h2', { id: 'schools-title' }, 'Schools'),
    h('div', { className: 'toolbar' }, h('span', { className: 'field' }, h('label', { for: 'status-filter' }, 'Show'), filter), check),
    h('p', { className: 'hint' }, 'Any time a school is on hold, open its report, click Download CSV of changes and review the sync changes to ensure they are expected. You can clear holds for one or more schools at once here.'),
    h('div', { id: 'schools-table' }, h('p', {}, 'Loading schools…')),
    h('div', { className: 'toolbar' },
      h('span', { className: 'field' }, h('input', { type: 'checkbox', id: 'select-all', onchange: (e) => selectAllOnHold(e.target.checked) }), h('label', { for: 'select-all' }, 'Select all on hold')),
      h('span', { id: 'selected-count', className: 'hint', 'aria-live': 'polite' }),
      h('button', { type: 'button', className: 'primary', 'data-testid': 'clear-holds', 'aria-describedby': 'selected-count', onclick: () => clearSelected(d) }, 'Clear holds')));
}

function renderSchoolsTable(d, schools) {
  if (!schools.length) return h('p', {}, state.filter ? `No schools are ${STATUS_WORDS[state.filter]}.` : 'This district has no schools yet.');
  const heads = ['School', 'Select', 'Status', 'Hold reasons', ...CHANGE_KINDS.map(([, label]) => label), 'Last synced'];
  return h('table', { className: 'schools' },
    h('caption', {}, `Schools${state.filter ? ` (${STATUS_WORDS[state.filter]})` : ''}: ${plural(schools.length, 'school')}`),
    h('thead', {}, h('tr', {}, heads.map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, schools.map((school) => renderSchoolRow(d, school))));
}

function renderSchoolRow(d, school) {
  const id = school.school_id;
  const selectable = school.status === 'on_hold' && school.pending_sync_id;
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('tr', { 'data-testid': `school-row-${id}`, 'data-status': school.status, 'data-pending-sync-id': school.pending_sync_id },
    h('th', { scope: 'row', 'data-label': 'School' }, h('a', { href: `#/districts/${enc(d)}/schools/${enc(id)}` }, school.name)),
    cell('Select', selectable ? h('input', {
      type: 'checkbox', id: `select-${id}`, 'data-testid': `select-${id}`, 'aria-label': `Select ${school.name}`,
      checked: state.selected.has(id), onchange: (e) => toggleSelected(id, e.target.checked),
    }) : null),
    cell('Status', statusBadge(school.status)),
    cell('Hold reasons', school.holds?.length ? h('ul', { className: 'plain' }, school.holds.map((hold) => h('li', {}, reasonTitle(hold.reason)))) : '—'),
    CHANGE_KINDS.map(([kind, label]) => cell(label, h('span', { className: 'num' }, String(school.changes?.[kind] ?? 0)))),
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
    h('form', { className: 'match', onsubmit: (e) => matchSchools(e, d, cleverSchools) }, rows,
      h('button', { type: 'submit', className: 'primary', 'data-testid': 'match-schools' }, 'Match schools')));
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
  const check = h('button', { type: 'button', 'data-testid': 'check-clever', onclick: (e) => confirmStep(e.currentTarget, () => checkClever(d, school.school_id)) }, 'Check for new Clever data');
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
      h('div', { className: 'toolbar' },
        school.csv_url ? h('button', { type: 'button', id: 'download-csv', 'data-testid': 'download-csv', onclick: () => downloadCsv(school) }, 'Download CSV of changes') : h('span', { className: 'hint' }, 'No pending changes to download.'),
        school.status === 'on_hold' ? h('button', { type: 'button', className: 'primary', 'data-testid': 'clear-hold', onclick: () => clearHolds(d, [school], () => showSchool(d, school.school_id, true)) }, 'Clear hold') : null,
        check)),
    renderByType(school.by_type ?? {}),
    renderExamples(school.examples ?? []),
    renderHistory(school.history ?? []),
  ];
}

function renderHold(hold) {
  const words = REASONS[hold.reason];
  const detail = hold.detail ?? {};
  const { facts, examples } = holdFacts(hold.reason, detail);
  return h('article', { className: 'hold' },
    h('h3', {}, reasonTitle(hold.reason)),
    words ? h('p', {}, words.summary(detail)) : null,
    facts.length ? h('ul', {}, facts.map((fact) => h('li', {}, fact))) : null,
    examples.length ? [h('p', {}, 'For example:'), h('ul', {}, examples.map((ex) => h('li', {}, ex)))] : null,
    words ? [h('h4', {}, 'What to do'), h('ul', {}, words.remedies.map((r) => h('li', {}, r)))] : null);
}

// The counts that fired the hold, from the detail its rule recorded (same facts as the e-mail).
function holdFacts(reason, detail) {
  const named = (detail.examples ?? []).filter((ex) => ex.name);
  if (reason === 'large_removals') {
    const facts = Object.entries(detail.types ?? {}).map(([type, c]) => {
      const gone = (c.removed ?? 0) + (c.source_id_changed ?? 0);
      let fact = `${RECORD_TYPES[type]?.[1] ?? type}: ${c.removed ?? 0} removed`;
      if (c.source_id_changed) fact += `, ${c.source_id_changed} with a changed source ID`;
      if (c.previous) fact += ` (${gone} of ${c.previous}, ${c.pct ?? '?'}%)`;
      return fact;
    });
    const t = detail.thresholds;
    if (t) facts.push(`A school is held when at least ${t.removal_min_count} records of one type and ${t.removal_pct}% of them are removed, or ${t.removal_max_count} whatever the share.`);
    const examples = named.map((ex) => `${ex.name} (${RECORD_TYPES[ex.record_type]?.[0] ?? ex.record_type}, ${ex.change === 'source_id_changed' ? 'source ID changed' : 'removed'})`);
    return { facts, examples };
  }
  if (reason === 'too_many_parent_connections') {
    const n = detail.students ?? 0;
    const facts = [`${plural(n, 'student')} now ${n === 1 ? 'has' : 'have'} ${detail.max_guardians ?? 6} or more guardians linked.`];
    return { facts, examples: named.map((ex) => `${ex.name}: ${ex.guardians} guardians (previously ${ex.previously})`) };
  }
  if (reason === 'emergency_contacts') {
    const byType = Object.entries(detail.by_type ?? {}).map(([type, count]) => `${type}: ${count}`).join(', ');
    const fact = `${plural(detail.relationships ?? 0, 'new contact relationship')} from ${plural(detail.contacts ?? 0, 'contact')}${byType ? ` (${byType})` : ''}.`;
    return { facts: [fact], examples: named.map((ex) => `${ex.name} (${ex.type} contact)`) };
  }
  return { facts: [], examples: [] };
}

function renderByType(byType) {
  const types = Object.keys(byType);
  if (!types.length) return null;
  return h('section', { 'aria-labelledby': 'types-title' }, h('h2', { id: 'types-title' }, 'Changes by type'),
    h('table', { className: 'by-type' },
      h('caption', {}, 'Pending changes per record type'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Record type'), CHANGE_KINDS.map(([, label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, types.map((type) => h('tr', {},
        h('th', { scope: 'row', 'data-label': 'Record type' }, RECORD_TYPES[type]?.[1] ?? type),
        CHANGE_KINDS.map(([kind, label]) => h('td', { 'data-label': label }, h('span', { className: 'num' }, String(byType[type]?.[kind] ?? 0)))))))));
}

function exampleText(example) {
  if (typeof example === 'string') return example;
  const kind = CHANGE_KINDS.find(([k]) => k === (example.change_type ?? example.change))?.[1];
  const what = [RECORD_TYPES[example.record_type]?.[0] ?? example.record_type, kind?.toLowerCase()].filter(Boolean).join(', ');
  return `${example.name ?? example.clever_id ?? 'Unnamed'}${what ? ` (${what})` : ''}`;
}

function renderExamples(examples) {
  if (!examples.length) return null;
  return h('section', { 'aria-labelledby': 'examples-title' }, h('h2', { id: 'examples-title' }, 'Examples'),
    h('ul', {}, examples.map((ex) => h('li', {}, exampleText(ex)))),
    h('p', { className: 'hint' }, 'The CSV of changes lists every change.'));
}

function renderHistory(history) {
  return h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'),
    history.length
      ? h('ol', { className: 'history' }, history.map((entry) => h('li', {}, when(entry.at), ' — ',
        h('strong', {}, String(entry.action ?? '').replaceAll('_', ' ')), entry.actor ? ` by ${entry.actor}` : '',
        entry.result ? `: ${reasonTitle(String(entry.result))}` : '',
        entry.sync_ids?.length ? h('span', { className: 'hint' }, ` (sync ${entry.sync_ids.join(', ')})`) : '')))
      : h('p', {}, 'Nothing has happened to this school yet.'));
}

// ------------------------------------------------------------------------------------- actions

function confirmStep(trigger, onYes) {
  document.getElementById('confirm-dialog')?.remove();
  const close = () => {
    dialog.remove();
    trigger.setAttribute('aria-expanded', 'false');
    trigger.focus();
  };
  const dialog = h('div', {
    id: 'confirm-dialog', className: 'dialog', role: 'dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text', tabindex: '-1',
    onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); close(); } },
  },
  h('h3', { id: 'confirm-title' }, 'Check for new Clever data?'),
  h('p', { id: 'confirm-text' }, CONFIRM_TEXT),
  h('div', { className: 'toolbar' },
    h('button', { type: 'button', className: 'primary', 'data-testid': 'confirm-yes', onclick: () => { close(); onYes(); } }, 'Yes, Continue'),
    h('button', { type: 'button', 'data-testid': 'confirm-cancel', onclick: close }, 'Cancel')));
  trigger.setAttribute('aria-expanded', 'true');
  trigger.closest('.toolbar').after(dialog);
  dialog.focus();
}

function toggleSelected(id, on) {
  if (on) state.selected.add(id);
  else state.selected.delete(id);
  updateSelectedCount();
}

function selectAllOnHold(on) {
  state.selected.clear();
  if (on) state.schools.filter((s) => s.status === 'on_hold' && s.pending_sync_id).forEach((s) => state.selected.add(s.school_id));
  document.querySelectorAll('#schools-table input[type=checkbox]').forEach((box) => { box.checked = on; });
  updateSelectedCount();
}

function updateSelectedCount() {
  const count = $('#selected-count');
  if (count) count.textContent = state.selected.size ? `${plural(state.selected.size, 'school')} selected` : 'No school selected';
}

function clearSelected(d) {
  const schools = state.schools.filter((s) => state.selected.has(s.school_id));
  if (!schools.length) return showAlert('Select at least one school on hold, then click Clear holds.');
  return clearHolds(d, schools, () => refreshDistrict(d));
}

// Clears the holds, says what happened to each school (a 409 for newer changes carries the same
// per-school results), then always refreshes: the page must show the change sets now pending.
async function clearHolds(d, schools, refresh) {
  const body = schools.map((s) => ({ school_id: s.school_id, sync_id: s.pending_sync_id }));
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
    await guarded(() => poll(refresh, () => released.every((id) => settledConnected(id)),
      'The released schools are Connected.', 'The changes are still being applied. Refresh the page in a minute.'), { clearAlert: false });
  }
}

// A released school is done when it shows Connected (or has left a filtered list it no longer matches).
function settledConnected(id) {
  const school = state.schools.find((s) => s.school_id === id);
  return school ? school.status === 'connected' : Boolean(state.filter) && state.filter !== 'connected';
}

async function checkClever(d, schoolId) {
  await guarded(async () => {
    const before = state.district?.last_sync_at;
    const { sync_id: syncId } = await api.sync(d);
    showResults([`Checking Clever for new data${syncId ? ` (sync ${syncId})` : ''}. The statuses update when it is processed.`]);
    await waitForSync(d, schoolId, before);
  });
}

async function reconnect(d) {
  await guarded(async () => {
    const before = state.district?.last_sync_at;
    const result = await api.reconnect(d);
    if (result.connection === 'connected') {
      showResults([`Reconnected with Clever. A sync is running now${result.sync_id ? ` (sync ${result.sync_id})` : ''}.`]);
      await refreshCurrent(d, currentRoute().schoolId);
      await waitForSync(d, currentRoute().schoolId, before);
    } else {
      const err = result.error ?? {};
      showResults([`Still disconnected. The error Clever gave: ${[err.code, err.message].filter(Boolean).join(': ') || 'unknown error'}`]);
      await refreshCurrent(d, currentRoute().schoolId);
    }
  });
}

function waitForSync(d, schoolId, before) {
  const refresh = () => refreshCurrent(d, schoolId);
  const done = () => state.district && (state.district.last_sync_at !== before || state.district.connection === 'disconnected');
  return poll(refresh, done, 'The Clever data is processed: the statuses are up to date.', 'The sync is still running. Refresh the page in a minute.');
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

// ------------------------------------------------------------------------------------- loading pages

async function showDistrict(d) {
  setView(h('p', { 'aria-busy': 'true' }, 'Loading the district…'));
  const district = await api.district(d);
  state.district = district;
  renderNav();
  document.title = `${district.name}: SIS sync dashboard`;
  const match = h('div', { id: 'match-section' });
  setView(...renderDistrictHeader(district), renderBanner(district), renderSchoolsSection(d), match);
  await refreshSchools(d);
  const [{ clever_schools: clever = [] }, { schools: notConnected = [] }] = await Promise.all([api.cleverSchools(d), api.schools(d, 'not_connected')]);
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
  await refreshSchools(d);
}

async function refreshSchools(d) {
  const { schools = [] } = await api.schools(d, state.filter);
  state.schools = schools;
  const onHold = new Set(schools.filter((s) => s.status === 'on_hold').map((s) => s.school_id));
  state.selected.forEach((id) => { if (!onHold.has(id)) state.selected.delete(id); });
  const focusedId = document.activeElement?.id;
  $('#schools-table')?.replaceChildren(renderSchoolsTable(d, schools));
  if (focusedId && document.activeElement === document.body) document.getElementById(focusedId)?.focus();
  const all = $('#select-all');
  if (all) all.checked = onHold.size > 0 && state.selected.size === onHold.size;
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

// ------------------------------------------------------------------------------------- router

function currentRoute() {
  const parts = window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'districts' || !parts[1]) return {};
  return { districtId: parts[1], schoolId: parts[2] === 'schools' ? parts[3] : undefined };
}

async function route() {
  stopPolling();
  if (!token.get()) return sessionStorage.getItem(SIGNED_OUT_KEY) ? renderSignedOut() : signInAgain();
  return guarded(async () => {
    if (!state.me) state.me = await api.me();
    renderNav();
    const { districtId, schoolId } = currentRoute();
    if (!districtId) return openFirstDistrict();
    $('#main').focus({ preventScroll: true });
    return schoolId ? showSchool(districtId, schoolId) : showDistrict(districtId);
  });
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
