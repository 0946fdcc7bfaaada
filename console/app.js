/* gatehouse console: a one-page app over the daemon's /admin/ JSON API.
 *
 * The admin token lives in the `token` variable below and nowhere else (no
 * storage, no cookie): reloading or closing the tab signs out. Every value
 * that comes from the daemon is put into the page with textContent, never
 * parsed as HTML, and the Content-Security-Policy allows no inline script. */
(function () {
  'use strict';

  let token = null;           // the admin token, in this tab's memory only
  let afterSignIn = '';       // the page asked for before signing in
  let search = null;          // the last search: {params, cursor, nextCursor}
  let docsCursor = null;      // the next page of the open player's documents
  let current = null;         // the open player's details
  let metricsTimer = null;
  let lastMetrics = null;
  let searchSeq = 0;          // the latest search and player load: an older answer
  let userSeq = 0;            // arriving late is dropped
  let flash = null;           // a notice to show once the next page is shown

  const RATE_INTERVAL_MS = 3000;
  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers (text only) ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // Unix seconds or an RFC 3339 string, shown in UTC.
  function fmtTime(v) {
    if (v === null || v === undefined || v === '') return '—';
    const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
    if (isNaN(d.getTime())) return String(v);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  // A datetime-local value, read as UTC, as RFC 3339; '' when empty.
  function localToRfc3339(v) {
    if (!v) return '';
    return (v.length === 16 ? v + ':00' : v) + 'Z';
  }

  function fmtBytes(n) {
    if (typeof n !== 'number') return '—';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  // The store's "for good": 9999-12-31T23:59:59Z (the admin API's banned_until).
  const BAN_FOREVER = 253402300799;

  function banText(u) {
    if (!u.banned) return 'not banned';
    const until = u.banned_until;
    return u.forever === true || until === null || until === undefined || until >= BAN_FOREVER
      ? 'banned for good' : 'banned until ' + fmtTime(until);
  }

  // ---- messages ----

  function showError(text) {
    $('error-text').textContent = text;
    $('error').hidden = false;
    $('notice').hidden = true;
  }

  function showNotice(text) {
    $('notice').textContent = text;
    $('notice').hidden = false;
    $('error').hidden = true;
  }

  function clearMessages() {
    $('error').hidden = true;
    $('notice').hidden = true;
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, slug, message) {
      super(message);
      this.status = status;
      this.slug = slug;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch('/admin' + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the daemon (' + e.message + ')');
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) {
      const slug = data && typeof data.error === 'string' ? data.error : 'http_' + r.status;
      const msg = data && typeof data.message === 'string' ? data.message : r.statusText;
      throw new ApiError(r.status, slug, msg);
    }
    return { data, text };
  }

  // Runs an action; a 401 goes back to sign-in, any other failure is shown.
  async function run(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        signOut('The daemon refused the token (401 ' + e.slug + '): sign in again.');
      } else if (e instanceof ApiError) {
        showError((e.status ? e.status + ' ' : '') + e.slug + ': ' + e.message);
      } else {
        showError('error: ' + e.message);
      }
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ---- pages ----

  const PAGES = ['signin', 'overview', 'users', 'user', 'keys'];

  function showPage(name) {
    for (const p of PAGES) $('page-' + p).hidden = p !== name;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.page === name ||
        (name === 'user' && a.dataset.page === 'users'));
    }
    if (name !== 'overview') stopRates();
  }

  function route() {
    const hash = location.hash || '#/overview';
    if (token === null) {
      afterSignIn = hash;
      showPage('signin');
      $('signin-token').focus();
      return;
    }
    const m = /^#\/user\/([^/]+)$/.exec(hash);
    if (m) return openUser(decodeURIComponent(m[1]));
    if (hash === '#/users') return showUsers();
    if (hash === '#/keys') return showKeys();
    return showOverview();
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ---- sign in / out ----

  async function signIn(ev) {
    ev.preventDefault();
    const input = $('signin-token');
    const candidate = input.value.trim();
    const err = $('signin-error');
    err.hidden = true;
    if (!candidate) return;
    token = candidate;
    const button = ev.submitter || null;
    if (button) button.disabled = true;
    try {
      await api('GET', '/stats');
      input.value = '';
      $('nav').hidden = false;
      clearMessages();
      const target = afterSignIn && afterSignIn !== '#/signin' ? afterSignIn : '#/overview';
      afterSignIn = '';
      go(target);
    } catch (e) {
      token = null;
      err.textContent = e instanceof ApiError && e.status === 401
        ? 'Wrong token: the daemon answered 401 (' + e.message + ').'
        : 'Cannot sign in: ' + (e.status ? e.status + ' ' : '') + e.message;
      err.hidden = false;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function signOut(message) {
    token = null;
    current = null;
    search = null;
    stopRates();
    // Nothing read with the token stays in the page, even hidden.
    for (const id of ['users-table', 'identities-table', 'sessions-table', 'keys-table']) {
      clear($(id).tBodies[0]);
    }
    for (const id of ['documents', 'user-name', 'user-id', 'user-created', 'user-seen', 'user-kind',
      'user-ban', 'user-sessions', 'user-docs']) {
      clear($(id));
    }
    for (const id of ['stat-users', 'stat-guests', 'stat-sessions', 'stat-documents',
      'rate-requests', 'rate-logins']) {
      $(id).textContent = '–';
    }
    $('search-form').reset();
    $('users-next').hidden = true;
    $('documents-next').hidden = true;
    $('nav').hidden = true;
    clearMessages();
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    afterSignIn = location.hash;
    showPage('signin');
    $('signin-token').focus();
  }

  // ---- overview ----

  // Sums of the counters the rates come from, out of Prometheus text.
  function parseMetrics(text) {
    const out = { requests: 0, logins: 0, failed: 0 };
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
      if (!nm) continue;
      let i = nm[0].length;
      let labels = '';
      if (line[i] === '{') {
        let j = i + 1;
        let quoted = false;
        for (; j < line.length; j++) {
          const c = line[j];
          if (quoted && c === '\\') { j++; continue; }
          if (c === '"') quoted = !quoted;
          else if (c === '}' && !quoted) break;
        }
        labels = line.slice(i + 1, j);
        i = j + 1;
      }
      const value = Number(line.slice(i).trim().split(/\s+/)[0]);
      if (!isFinite(value)) continue;
      if (nm[0] === 'gatehouse_http_requests_total') {
        out.requests += value;
      } else if (nm[0] === 'gatehouse_logins_total' && !/method="refresh"/.test(labels)) {
        if (/outcome="success"/.test(labels)) out.logins += value;
        else out.failed += value;
      }
    }
    return out;
  }

  async function readMetrics() {
    const r = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) throw new ApiError(r.status, 'metrics', 'GET /metrics answered ' + r.status);
    const m = parseMetrics(await r.text());
    m.at = performance.now();
    return m;
  }

  function fmtRate(delta, seconds) {
    if (delta < 0 || seconds <= 0) return '—';
    const r = delta / seconds;
    return r >= 100 ? r.toFixed(0) : r.toFixed(2);
  }

  async function sampleRates() {
    const now = await readMetrics();
    if (lastMetrics) {
      const dt = (now.at - lastMetrics.at) / 1000;
      $('rate-requests').textContent = fmtRate(now.requests - lastMetrics.requests, dt);
      $('rate-logins').textContent = fmtRate(now.logins - lastMetrics.logins, dt);
      $('rate-note').textContent = 'Rates over the last ' + dt.toFixed(1) + ' s, from the daemon\'s ' +
        '/metrics; failed logins: ' + fmtRate(now.failed - lastMetrics.failed, dt) + ' / s.';
    }
    lastMetrics = now;
    const note = $('rate-note');
    note.dataset.samples = String(Number(note.dataset.samples || 0) + 1);
  }

  function stopRates() {
    if (metricsTimer !== null) clearInterval(metricsTimer);
    metricsTimer = null;
    lastMetrics = null;
  }

  function showOverview() {
    showPage('overview');
    return run(null, async () => {
      const { data } = await api('GET', '/stats');
      $('stat-users').textContent = String(data.users);
      $('stat-guests').textContent = String(data.guests);
      $('stat-sessions').textContent = String(data.active_sessions);
      $('stat-documents').textContent = String(data.documents);
      if (metricsTimer === null) {
        $('rate-requests').textContent = '…';
        $('rate-logins').textContent = '…';
        await sampleRates();
        metricsTimer = setInterval(() => run(null, sampleRates), RATE_INTERVAL_MS);
      }
    });
  }

  // ---- players ----

  function searchParams(form) {
    const p = new URLSearchParams();
    const f = new FormData(form);
    const uid = String(f.get('user_id') || '').trim();
    const ident = String(f.get('identity') || '').trim();
    const after = localToRfc3339(String(f.get('created_after') || ''));
    const before = localToRfc3339(String(f.get('created_before') || ''));
    const limit = String(f.get('limit') || '').trim();
    if (uid) p.set('user_id', uid);
    if (ident) p.set('identity', ident);
    if (after) p.set('created_after', after);
    if (before) p.set('created_before', before);
    if (limit) p.set('limit', limit);
    return p;
  }

  async function runSearch(params, cursor) {
    const p = new URLSearchParams(params);
    if (cursor) p.set('cursor', cursor);
    const q = p.toString();
    const seq = ++searchSeq;
    const { data } = await api('GET', '/users' + (q ? '?' + q : ''));
    if (seq !== searchSeq) return; // a later search was started: its answer is shown
    const body = $('users-table').tBodies[0];
    clear(body);
    for (const u of data.users || []) {
      const link = el('a', { href: '#/user/' + encodeURIComponent(u.user_id), class: 'uid' }, u.user_id);
      body.append(el('tr', { 'data-user': u.user_id },
        el('td', null, link),
        el('td', null, fmtTime(u.created_at)),
        el('td', null, fmtTime(u.last_seen_at)),
        el('td', null, u.guest ? 'guest' : 'linked'),
        el('td', { class: u.banned ? 'bad' : '' }, banText(u))));
    }
    $('users-empty').hidden = (data.users || []).length > 0;
    search = { params, cursor: cursor || null, nextCursor: data.next_cursor || null };
    $('users-next').hidden = !search.nextCursor;
    loaded('page-users');
  }

  function showUsers() {
    showPage('users');
    if (search === null) return run(null, () => runSearch(new URLSearchParams(), null));
    return run(null, () => runSearch(search.params, search.cursor));
  }

  // ---- one player ----

  async function loadDocuments(id, after) {
    const p = new URLSearchParams({ limit: '20' });
    if (after) p.set('after', after);
    const { data } = await api('GET', '/users/' + encodeURIComponent(id) + '/documents?' + p);
    const box = $('documents');
    if (!after) clear(box);
    for (const d of data.documents || []) {
      const value = typeof d.value === 'string' ? d.value : JSON.stringify(d.value, null, 2);
      box.append(el('div', { class: 'doc', 'data-key': d.key },
        el('div', { class: 'doc-head' },
          el('code', null, d.key),
          el('span', { class: 'muted' }, ' version ' + d.version + ' · ' + fmtBytes(d.size) +
            ' · ' + fmtTime(d.updated_at))),
        el('pre', { class: 'doc-value' }, value)));
    }
    if (!box.firstChild) box.append(el('p', { class: 'muted' }, 'No documents.'));
    docsCursor = data.next_cursor || null;
    $('documents-next').hidden = !docsCursor;
  }

  function renderUser(u) {
    current = u;
    const name = $('user-name');
    name.textContent = typeof u.player_name === 'string' ? u.player_name : '(no player name)';
    name.classList.toggle('muted', typeof u.player_name !== 'string');
    $('user-id').textContent = u.user_id;
    $('user-created').textContent = fmtTime(u.created_at);
    $('user-seen').textContent = fmtTime(u.last_seen_at);
    $('user-ban').textContent = banText(u);
    $('user-ban').className = u.banned ? 'bad' : '';
    const docs = u.documents || {};
    $('user-docs').textContent = (docs.count === undefined ? '—' : docs.count) + ' (' +
      fmtBytes(docs.bytes) + ')';
    $('unban').disabled = !u.banned;
    const kind = u.guest ? 'guest' : 'linked to a platform';
    $('user-kind').textContent = kind + (u.has_guest_secret && !u.guest ? ', with a guest secret' : '');
    $('user-sessions').textContent = typeof u.live_sessions === 'number'
      ? u.live_sessions + ' live, ' + u.sessions_total + ' in all' +
        (u.sessions_total > (u.sessions || []).length ? ' (the latest ' + u.sessions.length + ' below)' : '')
      : String((u.sessions || []).length);

    const ids = $('identities-table').tBodies[0];
    clear(ids);
    for (const i of u.identities || []) {
      const b = el('button', { type: 'button', class: 'small' }, 'Unlink');
      b.addEventListener('click', () => unlink(b, i.provider));
      ids.append(el('tr', { 'data-provider': i.provider },
        el('td', null, i.provider), el('td', null, el('code', null, i.subject)), el('td', null, b)));
    }
    if (!ids.firstChild) ids.append(el('tr', null, el('td', { colspan: '3', class: 'muted' }, 'None.')));

    const ss = $('sessions-table').tBodies[0];
    clear(ss);
    for (const s of u.sessions || []) {
      let cell = '';
      const live = s.live !== false && (s.ended_at === null || s.ended_at === undefined);
      if (live) {
        const b = el('button', { type: 'button', class: 'small' }, 'End');
        b.addEventListener('click', () => endSession(b, s.session_id));
        cell = b;
      }
      ss.append(el('tr', { 'data-session': s.session_id, class: cell ? '' : 'ended' },
        el('td', null, el('code', null, s.session_id)),
        el('td', null, fmtTime(s.created_at)),
        el('td', null, fmtTime(s.last_used_at)),
        el('td', null, fmtTime(s.expires_at)),
        el('td', null, s.ended_at ? fmtTime(s.ended_at) : live ? '—' : 'expired'),
        el('td', null, cell)));
    }
    if (!ss.firstChild) ss.append(el('tr', null, el('td', { colspan: '6', class: 'muted' }, 'None.')));
  }

  // Counts finished loads of a page (data-loads), so that a test, or anyone,
  // can tell a fresh answer from the one shown before.
  function loaded(page) {
    const p = $(page);
    p.dataset.loads = String(Number(p.dataset.loads || 0) + 1);
  }

  async function reloadUser(id) {
    const seq = ++userSeq;
    const { data } = await api('GET', '/users/' + encodeURIComponent(id));
    if (seq !== userSeq) return; // a later load was started: its answer is shown
    renderUser(data);
    await loadDocuments(id, null);
    loaded('page-user');
  }

  function openUser(id) {
    showPage('user');
    if (!current || current.user_id !== id) {
      current = null;
      $('user-name').textContent = '';
      $('user-id').textContent = id;
      clear($('documents'));
    }
    return run(null, () => reloadUser(id));
  }

  function userPath(suffix) {
    return '/users/' + encodeURIComponent(current.user_id) + suffix;
  }

  function ban(ev) {
    ev.preventDefault();
    const form = ev.target;
    const until = localToRfc3339(new FormData(form).get('until') || '');
    const id = current.user_id;
    return run(ev.submitter, async () => {
      await api('POST', userPath('/ban'), until ? { until } : {});
      form.reset();
      await reloadUser(id);
      showNotice(until ? 'Banned ' + id + ' until ' + fmtTime(until) + '.' : 'Banned ' + id + ' for good.');
    });
  }

  function unban(ev) {
    const id = current.user_id;
    return run(ev.target, async () => {
      await api('POST', userPath('/unban'));
      await reloadUser(id);
      showNotice('Unbanned ' + id + '.');
    });
  }

  function endAll(ev) {
    const id = current.user_id;
    return run(ev.target, async () => {
      const { data } = await api('POST', userPath('/sessions/end-all'));
      await reloadUser(id);
      const n = data && typeof data.sessions_ended === 'number' ? data.sessions_ended + ' ' : '';
      showNotice('Ended ' + n + 'sessions of ' + id + '.');
    });
  }

  function endSession(button, sid) {
    const id = current.user_id;
    return run(button, async () => {
      await api('POST', userPath('/sessions/' + encodeURIComponent(sid) + '/end'));
      await reloadUser(id);
      showNotice('Ended session ' + sid + '.');
    });
  }

  async function unlink(button, provider) {
    const id = current.user_id;
    if (!await confirmAction('Unlink ' + provider + '?',
      'Removes the ' + provider + ' identity from player ' + id + '.', null)) return;
    return run(button, async () => {
      await api('POST', userPath('/identities/' + encodeURIComponent(provider) + '/unlink'));
      await reloadUser(id);
      showNotice('Unlinked ' + provider + ' from ' + id + '.');
    });
  }

  function exportUser(ev) {
    const id = current.user_id;
    return run(ev.target, async () => {
      const { text } = await api('GET', userPath('/export'));
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      const a = el('a', { href: url, download: 'gatehouse-user-' + id + '.json', hidden: '' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      showNotice('Exported ' + id + '.');
    });
  }

  async function deleteUser(ev) {
    const id = current.user_id;
    if (!await confirmAction('Delete player ' + id + '?',
      'This erases the player, their identities, sessions and documents. It cannot be undone.', id)) return;
    return run(ev.target, async () => {
      await api('POST', userPath('/delete'));
      current = null;
      search = null;
      clear($('users-table').tBodies[0]);
      flash = 'Deleted player ' + id + '.';
      go('#/users');
    });
  }

  // ---- keys ----

  async function loadKeys() {
    const { data } = await api('GET', '/keys');
    const body = $('keys-table').tBodies[0];
    clear(body);
    for (const k of data.keys || []) {
      body.append(el('tr', { 'data-kid': k.kid, class: 'state-' + String(k.state) },
        el('td', null, el('code', null, k.kid)),
        el('td', null, k.use), el('td', null, k.alg), el('td', null, k.state),
        el('td', null, fmtTime(k.created_at)), el('td', null, fmtTime(k.activate_at)),
        el('td', null, fmtTime(k.retire_at))));
    }
  }

  function showKeys() {
    showPage('keys');
    return run(null, loadKeys);
  }

  async function rotate(ev) {
    if (!await confirmAction('Rotate the signing key now?',
      'A new key signs from now on; the current one stays published until the tokens it ' +
      'signed expire.', null)) return;
    return run(ev.target, async () => {
      const { data } = await api('POST', '/keys/rotate');
      await loadKeys();
      showNotice('Rotated' + (data && data.kid ? ': ' + data.kid + ' signs now.' : '.'));
    });
  }

  // ---- the confirmation dialog ----

  // Resolves true when confirmed. With `expect`, the button stays disabled
  // until that exact text is typed.
  function confirmAction(title, text, expect) {
    const dlg = $('confirm');
    const input = $('confirm-input');
    const ok = $('confirm-ok');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-typed').hidden = !expect;
    $('confirm-expect').textContent = expect || '';
    input.value = '';
    ok.disabled = !!expect;
    return new Promise((resolve) => {
      const onInput = () => { ok.disabled = input.value.trim() !== expect; };
      const finish = (yes) => {
        input.removeEventListener('input', onInput);
        $('confirm-form').removeEventListener('submit', onSubmit);
        $('confirm-cancel').removeEventListener('click', onCancel);
        dlg.removeEventListener('cancel', onCancel);
        if (dlg.open) dlg.close();
        resolve(yes);
      };
      const onSubmit = (ev) => {
        ev.preventDefault();
        if (expect && input.value.trim() !== expect) return;
        finish(true);
      };
      const onCancel = (ev) => { ev.preventDefault(); finish(false); };
      input.addEventListener('input', onInput);
      $('confirm-form').addEventListener('submit', onSubmit);
      $('confirm-cancel').addEventListener('click', onCancel);
      dlg.addEventListener('cancel', onCancel);
      dlg.showModal();
      (expect ? input : $('confirm-cancel')).focus();
    });
  }

  // ---- wiring ----

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', () => signOut(''));
    $('error-close').addEventListener('click', clearMessages);
    $('overview-refresh').addEventListener('click', () => { stopRates(); showOverview(); });
    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      clearMessages();
      const params = searchParams(ev.target);
      run(ev.submitter, () => runSearch(params, null));
    });
    $('users-next').addEventListener('click', (ev) =>
      run(ev.target, () => runSearch(search.params, search.nextCursor)));
    $('ban-form').addEventListener('submit', ban);
    $('unban').addEventListener('click', unban);
    $('end-all').addEventListener('click', endAll);
    $('export').addEventListener('click', exportUser);
    $('delete').addEventListener('click', deleteUser);
    $('documents-next').addEventListener('click', (ev) =>
      run(ev.target, () => loadDocuments(current.user_id, docsCursor)));
    $('rotate').addEventListener('click', rotate);
    window.addEventListener('hashchange', () => {
      clearMessages();
      if (flash) showNotice(flash);
      flash = null;
      route();
    });
    route();
  });
}());
