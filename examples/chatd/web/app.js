// chatd's page: plain JS, no build step. Every call names the acting user
// in X-User; chatd has no real authentication.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = {
  info: null,        // GET /api/info
  user: '',          // acting user's local name
  userID: '',        // and full Matrix ID
  room: '',          // room shown in the middle
  view: null,        // GET /api/rooms/{room}
  lastRead: {},      // room -> event ID we last sent a receipt for
  titles: {},        // room -> title of an unnamed DM or group (its other members)
  inviters: {},      // room -> who invited the acting user
  typingSince: 0,    // when we last said we are typing (0: not typing)
  typingIdle: null,  // timer that says we stopped
  busy: false,       // a refresh is running
  again: false,      // another refresh is wanted after it
  messages: null,    // event ID -> message of the room shown
  replyTo: '',       // event ID the composer replies to
  editing: '',       // event ID of our message the composer edits
  armedDelete: '',   // event ID whose Delete was clicked once
  armedTimer: null,  // disarms it
  profile: null,     // the acting user's GET /api/profile
  presence: '',      // and the presence we last set for them
  joinedRooms: new Set(), // rooms the acting user is joined to
};

// api calls chatd's JSON API as the acting user. Errors throw with the
// Matrix errcode.
async function api(method, path, body) {
  const opts = { method, headers: { 'X-User': state.user } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((data && data.error) || res.statusText);
    err.errcode = (data && data.errcode) || 'M_UNKNOWN';
    err.status = res.status;
    throw err;
  }
  return data;
}

const roomPath = (id, rest) => '/api/rooms/' + encodeURIComponent(id) + (rest || '');

let errorTimer = null;
function showError(err) {
  const box = $('#error');
  box.textContent = (err.errcode ? err.errcode + ': ' : '') + err.message;
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

// act runs a user action, shows its error if any, then refreshes.
async function act(fn) {
  try {
    await fn();
  } catch (err) {
    showError(err);
  }
  await refresh();
}

// el builds an element: el('span', {class: 'x'}, 'text', child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === '') continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// person shows a user: an initial-letter avatar (mxc:// avatars cannot
// be fetched yet, and the page never loads a URL from another server),
// a presence dot when the presence is known, and the display name with
// the user ID on hover. Everything is text.
function person(userID, p, presence) {
  p = p || {};
  const name = p.displayname || userID;
  const letter = ([...name.replace(/^@/, '')][0] || '?').toUpperCase();
  const av = el('span', { class: 'avatar', 'data-avatar-url': p.avatar_url || '', title: p.avatar_url ? 'avatar ' + p.avatar_url : '' }, letter);
  av.style.backgroundColor = colour(userID); // CSSOM, allowed by the CSP
  if (presence) av.append(el('span', { class: 'dot ' + presence, 'data-presence': presence, title: presence }));
  return el('span', { class: 'person', 'data-user': userID }, av, el('span', { class: 'name', title: userID }, name));
}

// colour gives each user ID a steady avatar colour.
function colour(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.codePointAt(0)) % 360;
  return 'hsl(' + h + ', 45%, 45%)';
}

// memberOf is the shown room's member entry of a user, if any.
function memberOf(userID) {
  return state.view && state.view.members.find((x) => x.user_id === userID);
}

const badge = (text, cls) => el('span', { class: 'badge ' + (cls || text) }, text);
const time = (ts) => new Date(ts).toLocaleTimeString();
const kindLabel = { channel: 'channel', dm: 'DM', group: 'group DM' };
function roomTitle(r) {
  if (r.name) return r.name;
  if (state.titles[r.room_id]) return state.titles[r.room_id];
  if (r.kind === 'dm') return 'Direct message';
  if (r.kind === 'group') return 'Group DM';
  return 'Unnamed channel';
}

// ---- refreshing ----

// refresh reloads everything the page shows. Calls during a refresh are
// folded into one more run.
async function refresh() {
  if (!state.user) return;
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  try {
    do {
      state.again = false;
      await loadMe();
      await loadInvites();
      await loadKnocks();
      await loadRooms();
      await loadRoom();
    } while (state.again);
  } catch (err) {
    showError(err);
  } finally {
    state.busy = false;
  }
}

async function loadRooms() {
  const rooms = await api('GET', '/api/rooms');
  state.joinedRooms = new Set(rooms.filter((r) => r.membership === 'join').map((r) => r.room_id));
  for (const r of rooms) {
    if (!r.name && r.kind !== 'channel' && r.membership === 'join' && !state.titles[r.room_id]) await learnTitle(r.room_id);
  }
  const list = $('#rooms');
  list.replaceChildren();
  for (const r of rooms) {
    const li = el('li', {
      'data-room-id': r.room_id, 'data-membership': r.membership, 'data-invite-state': r.invite_state,
      class: r.room_id === state.room ? 'current' : '',
      onclick: () => selectRoom(r.room_id),
    },
      el('div', {},
        el('span', { class: 'title' }, roomTitle(r)), ' ',
        badge(kindLabel[r.kind] || r.kind, 'kind'), ' ',
        badge(r.origin, 'origin')),
      r.topic ? el('div', { class: 'muted small' }, r.topic) : null);
    if (r.membership === 'invite') {
      if (state.inviters[r.room_id]) li.append(el('div', { class: 'from' }, 'invited by ', state.inviters[r.room_id]));
      li.append(el('div', { class: 'actions' },
        badge(r.invite_state || 'pending'), ' ',
        el('button', { class: 'accept', onclick: (e) => { e.stopPropagation(); accept(r.room_id, e.target); } }, 'Accept'), ' ',
        el('button', { class: 'reject', onclick: (e) => { e.stopPropagation(); reject(r.room_id); } }, 'Reject')));
    }
    list.append(li);
  }
  $('#no-rooms').hidden = rooms.length > 0;
}

// learnTitle names an unnamed DM or group after its other members.
async function learnTitle(id) {
  try {
    const v = await api('GET', roomPath(id));
    titleFrom(v);
  } catch (_) { /* shown untitled */ }
}

function titleFrom(v) {
  if (v.name || v.kind === 'channel') return;
  const others = v.members.filter((m) => m.user_id !== state.userID && m.membership !== 'leave' && m.membership !== 'ban').map((m) => m.displayname || m.user_id);
  if (others.length) state.titles[v.room_id] = (v.kind === 'dm' ? 'DM with ' : 'Group: ') + others.join(', ');
}

// loadMe shows the acting user's card: their profile and presence.
async function loadMe() {
  const me = state.userID;
  const p = await api('GET', '/api/profile/' + encodeURIComponent(me));
  if (me !== state.userID) return;
  const first = !state.profile;
  state.profile = p;
  $('#me-card').replaceChildren(person(me, p, state.presence));
  $('#me-card').dataset.displayname = p.displayname;
  if (first) {
    $('#profile-name').value = p.displayname;
    $('#profile-avatar').value = p.avatar_url;
  }
}

// loadKnocks lists the acting user's own knocks and how they went.
async function loadKnocks() {
  const ks = await api('GET', '/api/knocks');
  const list = $('#my-knocks');
  list.replaceChildren();
  for (const k of ks.slice(0, 10)) {
    list.append(el('li', { 'data-room-id': k.room_id, 'data-state': k.state },
      badge(k.state), ' knocked on ', k.room_id, k.reason ? el('span', { class: 'muted' }, ' — ', k.reason) : null,
      k.state === 'accepted' ? el('div', { class: 'muted small' }, 'accepted: the invite is in your rooms') : null,
      k.state === 'refused' && k.outcome ? el('div', { class: 'muted small' }, 'refused: ', k.outcome) : null));
  }
}

async function loadInvites() {
  const invs = await api('GET', '/api/invites');
  state.inviters = {};
  for (const i of invs) if (!(i.room_id in state.inviters)) state.inviters[i.room_id] = i.inviter;
  const list = $('#invites');
  list.replaceChildren();
  for (const i of invs.slice(0, 20)) {
    list.append(el('li', { class: 'small', 'data-room-id': i.room_id, 'data-invite-state': i.invite_state },
      badge(i.invite_state), ' ', i.room_name || (i.is_direct ? 'DM' : i.room_id), ' from ', i.inviter,
      el('span', { class: 'muted' }, ' · ', time(i.updated_ts))));
  }
  if (!invs.length) list.append(el('li', { class: 'muted small' }, 'None.'));
}

async function loadRoom() {
  const show = !!state.room;
  $('#placeholder').hidden = show;
  $('#room-head').hidden = !show;
  if (!show) {
    $('#details').hidden = true;
    $('#invite-banner').hidden = true;
    $('#messages').replaceChildren();
    $('#typing').textContent = '';
    return;
  }
  let v;
  try {
    v = await api('GET', roomPath(state.room));
  } catch (err) {
    if (err.status === 403 || err.status === 404) { // left, kicked, or gone
      selectRoom('');
      return;
    }
    throw err;
  }
  state.view = v;
  titleFrom(v);
  const me = v.members.find((m) => m.user_id === state.userID) || { membership: '', role: 'user' };
  const joined = me.membership === 'join';
  $('#room-name').textContent = roomTitle(v);
  $('#room-kind').textContent = kindLabel[v.kind] || v.kind;
  $('#room-origin').textContent = v.origin;
  $('#room-topic').textContent = v.topic;
  $('#room-id').textContent = v.room_id;
  $('#room-version').textContent = v.room_version;
  $('#invite-banner').hidden = me.membership !== 'invite';
  $('#banner-state').textContent = me.invite_state || 'pending';
  $('#details').hidden = !joined;
  renderMembers(v, joined);
  renderKnocks(v, me);
  renderBanned(v, joined);
  const others = v.typing.filter((u) => u !== state.userID);
  $('#typing').textContent = others.length ? others.join(', ') + (others.length > 1 ? ' are' : ' is') + ' typing…' : '';
  if (joined) {
    await loadMessages();
  } else {
    $('#messages').replaceChildren();
  }
}

function renderMembers(v, joined) {
  const list = $('#members');
  list.replaceChildren();
  for (const m of v.members) {
    const self = m.user_id === state.userID;
    const role = joined
      ? el('select', { 'data-user': m.user_id, title: 'role', onchange: (e) => setRole(m.user_id, e.target.value) },
        ...['owner', 'moderator', 'user'].map((r) => { const o = el('option', { value: r }, r); o.selected = r === m.role; return o; }))
      : badge(m.role, 'role');
    const standing = el('div', { class: 'standing' }, role, badge(m.membership));
    if (m.invite_state) standing.append(el('span', { class: 'small muted' }, 'invite'), badge(m.invite_state));
    if (joined && !self) {
      if (m.membership === 'invite') standing.append(el('button', { onclick: () => roomAction('/revoke', { user: m.user_id }) }, 'Revoke'));
      if (m.membership === 'join') standing.append(el('button', { onclick: () => kickOrBan('/kick', m.user_id) }, 'Kick'));
      if (m.membership !== 'ban') standing.append(el('button', { class: 'danger', onclick: () => kickOrBan('/ban', m.user_id) }, 'Ban'));
    }
    list.append(el('li', {
      'data-user': m.user_id, 'data-membership': m.membership, 'data-invite-state': m.invite_state, 'data-role': m.role,
      'data-displayname': m.displayname || '', 'data-presence': m.presence || 'offline',
    },
      el('div', { class: 'who' }, person(m.user_id, m, m.presence || 'offline'), self ? el('span', { class: 'muted' }, ' (you)') : null),
      m.status_msg ? el('div', { class: 'muted small status' }, m.status_msg) : null,
      standing));
  }
}

// renderKnocks lists the room's pending knocks; owners and moderators
// may accept (invite) or refuse them.
function renderKnocks(v, me) {
  const list = $('#knocks');
  list.replaceChildren();
  const mayAnswer = me.membership === 'join' && (me.role === 'owner' || me.role === 'moderator');
  for (const k of v.knocks || []) {
    const path = '/knocks/' + encodeURIComponent(k.user_id);
    list.append(el('li', { 'data-user': k.user_id },
      person(k.user_id, memberOf(k.user_id)), ' ', el('span', { class: 'muted small' }, time(k.ts)),
      k.reason ? el('div', { class: 'reason' }, k.reason) : null,
      mayAnswer ? el('div', {},
        el('button', { class: 'accept', onclick: () => roomAction(path + '/accept') }, 'Accept'),
        el('button', { class: 'reject', onclick: () => refuseKnock(path) }, 'Refuse')) : null));
  }
  $('#knocks-section').hidden = !(v.knocks && v.knocks.length);
}

function refuseKnock(path) {
  const reason = window.prompt('Refuse the knock. Reason (optional):', '');
  if (reason === null) return;
  roomAction(path + '/refuse', { reason });
}

function renderBanned(v, joined) {
  const list = $('#banned');
  list.replaceChildren();
  for (const b of v.banned) {
    list.append(el('li', { 'data-user': b.user_id }, b.user_id, b.reason ? el('span', { class: 'muted' }, ' — ', b.reason) : null, ' ',
      joined ? el('button', { onclick: () => roomAction('/unban', { user: b.user_id }) }, 'Unban') : null));
  }
  $('#no-banned').hidden = v.banned.length > 0;
}

// Emoji the page offers as one-click reactions; any key other servers
// use is shown too.
const quickReactions = ['👍', '❤️', '😂', '🎉'];

async function loadMessages() {
  const room = state.room;
  const msgs = await api('GET', roomPath(room, '/messages'));
  if (room !== state.room) return;
  const list = $('#messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40 || list.dataset.room !== room;
  const byID = new Map(msgs.map((m) => [m.event_id, m]));
  state.messages = byID;
  list.replaceChildren();
  list.dataset.room = room;
  for (const m of msgs) list.append(renderMessage(m, byID));
  if (atBottom) list.scrollTop = list.scrollHeight;
  renderComposerMode();
  // Looking at the room is reading it: send a receipt for the newest message.
  const last = msgs[msgs.length - 1];
  if (last && state.lastRead[room] !== last.event_id) {
    state.lastRead[room] = last.event_id;
    api('POST', roomPath(room, '/read'), { event_id: last.event_id }).catch(showError);
  }
}

// renderMessage builds one message. Only formatted_body, which chatd's
// homeserver has already sanitised with a strict allow-list, is inserted
// as HTML; bodies, user IDs and reaction keys are always text.
function renderMessage(m, byID) {
  const mine = m.sender === state.userID;
  const li = el('li', {
    class: 'msg' + (mine ? ' mine' : '') + (m.deleted ? ' deleted' : ''),
    'data-event-id': m.event_id, 'data-sender': m.sender, 'data-msgtype': m.msgtype || 'm.text',
    'data-edited': m.edited ? 'true' : 'false', 'data-deleted': m.deleted ? 'true' : 'false',
  });
  const member = memberOf(m.sender);
  const who = person(m.sender, m, member && member.presence);
  who.querySelector('.name').classList.add('sender');
  const meta = el('div', { class: 'meta' }, who, ' · ', time(m.ts));
  if (m.edited && !m.deleted) meta.append(' ', el('span', { class: 'edited', title: m.edited_ts ? 'edited at ' + time(m.edited_ts) : '' }, '(edited)'));
  if (m.thread_root) meta.append(' ', el('span', { class: 'badge thread', 'data-thread-root': m.thread_root }, 'in a thread'));
  li.append(meta);
  if (m.reply_to) {
    const target = byID.get(m.reply_to);
    let quoted = 'a message';
    if (target) quoted = target.deleted ? 'a deleted message' : target.body;
    li.append(el('blockquote', { class: 'quote', 'data-reply-to': m.reply_to },
      target ? el('span', { class: 'quote-sender', title: target.sender }, (target.displayname || target.sender) + ': ') : null,
      el('span', { class: 'quote-body' }, quoted)));
  }
  const body = el('div', { class: 'body' });
  if (m.deleted) {
    body.append(el('span', { class: 'muted deleted-note' }, 'message deleted'));
  } else {
    if (m.msgtype === 'm.emote') body.append(el('span', { class: 'emote' }, '* ' + (m.displayname || m.sender) + ' '));
    if (m.formatted_body) {
      const html = el('span', { class: 'html' });
      html.innerHTML = m.formatted_body; // sanitised server-side: see above
      body.append(html);
    } else {
      body.append(el('span', { class: 'text' }, m.body));
    }
  }
  if (m.msgtype === 'm.notice') body.classList.add('notice');
  li.append(body);
  if (!m.deleted) li.append(renderReactions(m), renderActions(m, mine));
  const readers = (m.read_by || []).map((r) => el('span', { class: 'reader', 'data-user': r.user_id, 'data-ts': r.ts },
    r.user_id, ' at ', time(r.ts)));
  const readBy = el('div', { class: 'read-by' });
  if (readers.length) {
    readBy.append('✓ read by ');
    readers.forEach((r, i) => { if (i) readBy.append(', '); readBy.append(r); });
  }
  li.append(readBy);
  return li;
}

// renderReactions shows each key with its count (ours highlighted: a
// click takes ours back), then the quick emoji not used yet.
function renderReactions(m) {
  const box = el('div', { class: 'reactions' });
  const used = new Set();
  for (const r of m.reactions || []) {
    used.add(r.key);
    const ours = r.users.includes(state.userID);
    box.append(el('button', {
      class: 'reaction' + (ours ? ' ours' : ''), 'data-key': r.key, 'data-count': r.count, title: r.users.join(', '),
      onclick: () => (ours ? unreact(m.event_id, r.key) : react(m.event_id, r.key)),
    }, el('span', { class: 'key' }, r.key), ' ', el('span', { class: 'count' }, String(r.count))));
  }
  for (const key of quickReactions) {
    if (used.has(key)) continue;
    box.append(el('button', { class: 'react', 'data-key': key, title: 'react with ' + key, onclick: () => react(m.event_id, key) }, key));
  }
  return box;
}

function renderActions(m, mine) {
  const box = el('div', { class: 'msg-actions' },
    el('button', { class: 'reply', onclick: () => startReply(m.event_id) }, 'Reply'));
  if (mine) box.append(el('button', { class: 'edit', onclick: () => startEdit(m.event_id) }, 'Edit'));
  // Others' messages need the redact power (moderators and owners by default).
  const me = state.view && state.view.members.find((x) => x.user_id === state.userID);
  if (!mine && !(me && (me.role === 'owner' || me.role === 'moderator'))) return box;
  // Deleting takes two clicks: the first asks (for 5 s, across refreshes),
  // the second deletes.
  const armed = state.armedDelete === m.event_id;
  const del = el('button', { class: 'delete danger', 'data-armed': armed ? 'true' : 'false' }, armed ? 'Delete for everyone?' : 'Delete');
  del.addEventListener('click', () => {
    if (state.armedDelete !== m.event_id) {
      state.armedDelete = m.event_id;
      del.dataset.armed = 'true';
      del.textContent = 'Delete for everyone?';
      clearTimeout(state.armedTimer);
      state.armedTimer = setTimeout(() => { state.armedDelete = ''; refresh(); }, 5000);
      return;
    }
    state.armedDelete = '';
    deleteMessage(m.event_id);
  });
  box.append(del);
  return box;
}

// The composer is in one of three modes: a new message, a reply
// (state.replyTo) or an edit of our own message (state.editing).
function startReply(id) {
  state.editing = '';
  state.replyTo = id;
  renderComposerMode();
  $('#text').focus();
}

function startEdit(id) {
  const m = state.messages && state.messages.get(id);
  if (!m) return;
  state.replyTo = '';
  state.editing = id;
  $('#text').value = m.body;
  renderComposerMode();
  $('#text').focus();
}

function cancelMode() {
  if (state.editing) $('#text').value = '';
  state.replyTo = '';
  state.editing = '';
  renderComposerMode();
}

function renderComposerMode() {
  const bar = $('#composer-mode');
  const id = state.editing || state.replyTo;
  if (!id) { bar.hidden = true; return; }
  const m = state.messages && state.messages.get(id);
  $('#composer-mode-label').textContent = state.editing ? 'Editing your message' : 'Replying to ' + (m ? m.displayname || m.sender : 'a message');
  $('#composer-mode-quote').textContent = m ? (m.deleted ? 'message deleted' : m.body) : '';
  bar.dataset.mode = state.editing ? 'edit' : 'reply';
  bar.dataset.eventId = id;
  bar.hidden = false;
}

const react = (id, key) => act(() => api('POST', roomPath(state.room, '/messages/' + encodeURIComponent(id) + '/reactions'), { key }));
const unreact = (id, key) => act(() => api('DELETE', roomPath(state.room, '/messages/' + encodeURIComponent(id) + '/reactions/' + encodeURIComponent(key))));
const deleteMessage = (id) => act(async () => {
  await api('DELETE', roomPath(state.room, '/messages/' + encodeURIComponent(id)));
  if (state.editing === id || state.replyTo === id) cancelMode();
});

// ---- actions ----

function selectRoom(id) {
  if (id !== state.room) { state.replyTo = ''; state.editing = ''; state.messages = null; }
  state.room = id;
  state.view = null;
  history.replaceState(null, '', id ? '#' + encodeURIComponent(id) : location.pathname + location.search);
  for (const li of document.querySelectorAll('#rooms li')) li.classList.toggle('current', li.dataset.roomId === id);
  refresh();
}

async function accept(id, button) {
  if (button) { button.disabled = true; button.textContent = 'Joining…'; }
  await act(async () => {
    await api('POST', roomPath(id, '/accept'));
    state.room = id;
    history.replaceState(null, '', '#' + encodeURIComponent(id));
  });
}

const reject = (id) => act(() => api('POST', roomPath(id, '/reject')));
const roomAction = (path, body) => act(() => api('POST', roomPath(state.room, path), body));
const setRole = (user, role) => act(() => api('PUT', roomPath(state.room, '/roles/' + encodeURIComponent(user)), { role }));

function kickOrBan(path, user) {
  const reason = window.prompt((path === '/ban' ? 'Ban ' : 'Kick ') + user + '. Reason (optional):', '');
  if (reason === null) return;
  roomAction(path, { user, reason });
}

async function send(text) {
  if (text.startsWith('/')) {
    const res = await api('POST', '/api/command', { text });
    selectRoom(res.room_id);
    return;
  }
  if (!state.room) throw Object.assign(new Error('pick a room first, or type /federation dm @user:server'), { errcode: 'M_INVALID_PARAM' });
  if (state.editing) {
    const id = state.editing;
    await api('PUT', roomPath(state.room, '/messages/' + encodeURIComponent(id)), { body: text });
    cancelMode();
    return;
  }
  const msg = { body: text };
  if (state.replyTo) msg.reply_to = state.replyTo;
  await api('POST', roomPath(state.room, '/messages'), msg);
  if (state.replyTo) cancelMode();
  state.typingSince = 0;
  clearTimeout(state.typingIdle);
}

// typing tells the room we are typing (again every 10 s while we are) and
// that we stopped after 5 s without a keystroke.
function typing() {
  const text = $('#text').value;
  const joined = state.view && state.view.members.some((m) => m.user_id === state.userID && m.membership === 'join');
  if (!joined) return;
  const room = state.room;
  clearTimeout(state.typingIdle);
  if (!text || text.startsWith('/')) {
    if (state.typingSince) stopTyping(room);
    return;
  }
  if (Date.now() - state.typingSince > 10000) {
    state.typingSince = Date.now();
    api('POST', roomPath(room, '/typing'), { typing: true }).catch(() => {});
  }
  state.typingIdle = setTimeout(() => stopTyping(room), 5000);
}

function stopTyping(room) {
  state.typingSince = 0;
  api('POST', roomPath(room, '/typing'), { typing: false }).catch(() => {});
}

function formValue(sel) { const v = $(sel).value.trim(); return v; }

const viaOf = (sel) => formValue(sel).split(/[\s,]+/).filter(Boolean);

// joinRoom joins by room ID or alias, then shows the room.
async function joinRoom(room, via) {
  const res = await api('POST', '/api/join', via && via.length ? { room, via } : { room });
  selectRoom(res.room_id);
}

// searchDirectory shows a server's public rooms, with a Join (or Knock)
// button on each room the acting user is not in.
async function searchDirectory() {
  const server = formValue('#dir-server');
  const params = new URLSearchParams();
  if (server) params.set('server', server);
  if (formValue('#dir-q')) params.set('q', formValue('#dir-q'));
  const rooms = await api('GET', '/api/directory?' + params);
  const list = $('#directory');
  list.replaceChildren();
  const via = server ? [server] : [];
  for (const r of rooms) {
    const li = el('li', { 'data-room-id': r.room_id, 'data-alias': r.alias, 'data-join-rule': r.join_rule },
      el('div', {}, el('span', { class: 'title' }, r.name || r.alias || r.room_id), ' ',
        badge(r.join_rule || 'public', 'rule'), ' ', el('span', { class: 'muted small' }, String(r.members), ' members')),
      r.alias ? el('div', { class: 'muted small alias' }, r.alias) : null,
      r.topic ? el('div', { class: 'muted small' }, r.topic) : null);
    const actions = el('div', {});
    if (state.joinedRooms.has(r.room_id)) {
      actions.append(el('button', { class: 'open', onclick: () => selectRoom(r.room_id) }, 'Open'));
    } else if (r.join_rule === 'knock') {
      actions.append(el('button', { class: 'knock', onclick: () => act(() => knock(r.room_id, via, '')) }, 'Knock'));
    } else {
      actions.append(el('button', { class: 'join', onclick: (e) => { e.target.disabled = true; act(() => joinRoom(r.room_id, via)); } }, 'Join'));
    }
    li.append(actions);
    list.append(li);
  }
  $('#directory-empty').hidden = rooms.length > 0;
}

async function knock(room, via, reason) {
  const body = {};
  if (via && via.length) body.via = via;
  if (reason) body.reason = reason;
  await api('POST', roomPath(room, '/knock'), body);
}

// fullAlias turns "lobby" or "#lobby" into "#lobby:this.server".
function fullAlias(a) {
  a = a.replace(/^#/, '');
  return '#' + (a.includes(':') ? a : a + ':' + state.info.server_name);
}

function wire() {
  $('#user').addEventListener('change', (e) => setUser(e.target.value));
  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('#text').value.trim();
    if (!text) return;
    $('#text').value = '';
    act(() => send(text));
  });
  $('#text').addEventListener('input', typing);
  $('#new-room').addEventListener('submit', (e) => {
    e.preventDefault();
    const invite = formValue('#new-invite').split(/[\s,]+/).filter(Boolean);
    const kind = $('#new-kind').value;
    const req = { kind, name: formValue('#new-name'), topic: formValue('#new-topic'), invite };
    if (kind === 'channel') req.join_rule = $('#new-join-rule').value;
    act(async () => {
      const res = await api('POST', '/api/rooms', req);
      e.target.reset();
      selectRoom(res.room_id);
    });
  });
  $('#invite-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const user = formValue('#invite-user');
    act(async () => { await api('POST', roomPath(state.room, '/invite'), { user }); e.target.reset(); });
  });
  $('#name-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => api('PUT', roomPath(state.room, '/name'), { name: formValue('#name-input') }));
  });
  $('#topic-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => api('PUT', roomPath(state.room, '/topic'), { topic: formValue('#topic-input') }));
  });
  $('#leave').addEventListener('click', () => act(async () => {
    await api('POST', roomPath(state.room, '/leave'));
    selectRoom('');
  }));
  $('#profile-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => api('PUT', '/api/profile', { displayname: formValue('#profile-name'), avatar_url: formValue('#profile-avatar') }));
  });
  $('#presence-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const presence = $('#presence').value;
    act(async () => {
      await api('PUT', '/api/presence', { presence, status_msg: formValue('#status-msg') });
      state.presence = presence;
    });
  });
  $('#join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = formValue('#join-room');
    act(async () => { await joinRoom(room, viaOf('#join-via')); e.target.reset(); });
  });
  $('#knock-btn').addEventListener('click', () => {
    const room = formValue('#join-room');
    act(async () => { await knock(room, viaOf('#join-via'), formValue('#knock-reason')); $('#join-form').reset(); });
  });
  $('#directory-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(searchDirectory);
  });
  $('#alias-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const alias = fullAlias(formValue('#alias-input'));
    act(async () => { await api('PUT', roomPath(state.room, '/alias'), { alias }); e.target.reset(); });
  });
  $('#publish').addEventListener('click', () => act(() => api('PUT', roomPath(state.room, '/published'), { published: true })));
  $('#unpublish').addEventListener('click', () => act(() => api('PUT', roomPath(state.room, '/published'), { published: false })));
  $('#banner-accept').addEventListener('click', (e) => accept(state.room, e.target));
  $('#banner-reject').addEventListener('click', () => reject(state.room));
  $('#composer-cancel').addEventListener('click', cancelMode);
  $('#text').addEventListener('keydown', (e) => { if (e.key === 'Escape') cancelMode(); });
}

function setUser(name) {
  const u = state.info.users.find((x) => x.name === name) || state.info.users[0];
  if (!u) return;
  state.user = u.name;
  state.userID = u.user_id;
  $('#user').value = u.name;
  localStorage.setItem('chatd.user', u.name);
  const params = new URLSearchParams(location.search);
  if (params.get('user') && params.get('user') !== u.name) {
    params.set('user', u.name);
    history.replaceState(null, '', '?' + params + location.hash);
  }
  state.lastRead = {};
  state.titles = {};
  state.profile = null;
  state.presence = 'online';
  $('#presence').value = 'online';
  $('#directory').replaceChildren();
  // Picking a user is coming online, as a chat client does.
  api('PUT', '/api/presence', { presence: 'online' }).catch(showError);
  selectRoom('');
}

// live updates: chatd sends a "change" event whenever anything happened;
// a slow poll covers a dropped stream and typing that timed out.
function live() {
  const es = new EventSource('/api/events');
  es.addEventListener('change', () => refresh());
  setInterval(refresh, 4000);
}

async function main() {
  wire();
  state.info = await api('GET', '/api/info');
  $('#server').textContent = state.info.server_name;
  document.title = 'chatd · ' + state.info.server_name;
  const select = $('#user');
  for (const u of state.info.users) select.append(el('option', { value: u.name }, u.user_id));
  const wanted = new URLSearchParams(location.search).get('user') || localStorage.getItem('chatd.user');
  const hash = decodeURIComponent(location.hash.slice(1));
  setUser(wanted);
  if (hash) selectRoom(hash);
  live();
}

main().catch(showError);
