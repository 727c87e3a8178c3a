// The API client: every call carries `Authorization: Bearer <ID token>`; a refusal becomes an
// ApiError with the server's `{"error": {"code", "message"}}`.

const TOKEN_KEY = 'sis-sync.id-token';
const SYNC_PAGE = 20;
export const BASE = new URL('.', window.location.href).pathname.replace(/\/$/, '');
const ALL_SCHOOLS_PAGE = 500; // the API's largest page: when every school of a status is needed

export class ApiError extends Error {
  constructor(status, code, message, results) {
    super(message);
    this.status = status;
    this.code = code;
    this.results = results; // Clear holds' per-school results, also sent with its 409
  }
}

export const token = {
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

export const enc = encodeURIComponent;
const districtPath = (d) => `/v1/districts/${enc(d)}`;
const post = (path, body) => request(path, { method: 'POST', body });

export const api = {
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
  saveSettings: (d, patch) => request(`${districtPath(d)}/settings`, { method: 'PATCH', body: patch }),
  previewSettings: (d, patch) => post(`${districtPath(d)}/settings/preview`, patch),
  csv: (url) => fetchCsv(url),
};
