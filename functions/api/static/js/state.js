// What the pages share while the dashboard is open.

// The school list is paged by the API: `cursors[i]` loads page i (null: the first); `counts` are the
// whole district's; `selected` maps a school id to the school as shown when it was ticked, so a
// selection made on one page still acts on another.
export const state = {
  me: null, district: null, schools: [], filter: '', sort: 'status', pageSize: 50, cursors: [null], pageIndex: 0,
  next: null, total: 0, counts: null, selected: new Map(), pollId: 0,
};
