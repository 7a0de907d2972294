// The Switchboard chat widget: one operator's conversation over the WebSocket channel
// (protocol 1, see the README). The page is /widget/<team>/#token=<channel token>[&lang=en].
// On load it asks for the whole conversation; after a dropped connection it reconnects
// with resume_after set to the last event shown, so nothing is shown twice or missed.
'use strict';

(function () {
  const params = new URLSearchParams(location.hash.slice(1));
  let token = params.get('token') || '';
  const team = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
  const lang = params.get('lang') || (navigator.language || 'zh').slice(0, 2);
  const zh = lang !== 'en';
  const T = zh ? {
    send: '发送', human: '转人工', end: '结束会话', resolved: '已解决', unresolved: '未解决',
    connecting: '连接中…', online: '在线', offline: '已断开，正在重连…', stopped: '已断开', placeholder: '请描述你的问题…',
    transferred: (who) => who ? `已转给工程师 ${who}` : '已转人工，正在安排工程师',
    closed: '会话已结束', reopened: '会话已重新打开', opened: '新会话', groupChat: '已创建企业微信群聊',
    resolvedSaid: '你已反馈：已解决', unresolvedSaid: '你已反馈：未解决', chose: (n) => `你选择了第 ${n} 项`,
    noToken: '缺少访问令牌：请从所在系统重新打开此页面。', expired: '登录已过期：请从所在系统重新打开此页面。',
    failed: '未发送：', status: { collecting: '收集信息', matching: '查找答案', awaiting_choice: '等待选择', answered: '已回答', with_human: '人工处理中', waiting: '等待你的回复', reconfirming: '确认中', closed: '已结束' },
  } : {
    send: 'Send', human: 'Talk to a person', end: 'End', resolved: 'Resolved', unresolved: 'Not resolved',
    connecting: 'Connecting…', online: 'Online', offline: 'Disconnected, reconnecting…', stopped: 'Disconnected', placeholder: 'Describe your question…',
    transferred: (who) => who ? `Handed to engineer ${who}` : 'Handed to a person; an engineer will pick it up',
    closed: 'The session ended', reopened: 'The session was reopened', opened: 'New session', groupChat: 'A WeCom group chat was created',
    resolvedSaid: 'You said: resolved', unresolvedSaid: 'You said: not resolved', chose: (n) => `You chose option ${n}`,
    noToken: 'No access token: open this page again from your system.', expired: 'Your sign-in expired: open this page again from your system.',
    failed: 'Not sent: ', status: { collecting: 'collecting details', matching: 'looking it up', awaiting_choice: 'waiting for your choice', answered: 'answered', with_human: 'with a person', waiting: 'waiting for you', reconfirming: 'checking in', closed: 'ended' },
  };
  document.documentElement.lang = zh ? 'zh-CN' : 'en';

  const $ = (id) => document.getElementById(id);
  const log = $('log');
  const text = $('text');
  const stateBadge = $('state');
  $('send').textContent = T.send;
  $('human').textContent = T.human;
  $('end').textContent = T.end;
  text.placeholder = T.placeholder;

  let socket = null;
  let lastVersion = 0; // the last conversation version shown
  let status = 'collecting';
  let retry = 500;
  let stopped = false;
  const seen = new Set(); // event ids shown
  const pending = new Map(); // client_id -> <li> of a message not yet recorded

  function notice(message) {
    const p = $('notice');
    p.textContent = message;
    p.hidden = !message;
  }

  function setConnection(state) {
    stateBadge.dataset.state = state;
    const s = state === 'online' ? `${T.online} · ${T.status[status] || status}` : T[state];
    stateBadge.textContent = s;
    const online = state === 'online';
    $('send').disabled = !online;
    $('human').disabled = !online || status === 'with_human' || status === 'closed';
    $('end').disabled = !online || status === 'closed';
  }

  function add(kind, content) {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = content;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function actions(li, buttons) {
    const row = document.createElement('div');
    row.className = 'actions';
    for (const [label, frame, testId] of buttons) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.dataset.action = testId;
      b.addEventListener('click', () => {
        for (const other of row.querySelectorAll('button')) other.disabled = true;
        command(frame);
      });
      row.appendChild(b);
    }
    li.appendChild(row);
  }

  // Buttons of earlier prompts stop working once the conversation moved past them.
  function retireActions() {
    for (const b of log.querySelectorAll('.actions button')) b.disabled = true;
  }

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function command(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function show(frame) {
    if (seen.has(frame.event_id)) return;
    seen.add(frame.event_id);
    lastVersion = Math.max(lastVersion, frame.version);
    status = frame.status;
    const item = frame.item;
    switch (item.kind) {
      case 'session_opened': add('system', T.opened); break;
      case 'operator_message': {
        const mine = item.client_id && pending.get(item.client_id);
        if (mine) {
          // Shown when typed; now it takes its place in the conversation's order.
          mine.classList.remove('pending');
          pending.delete(item.client_id);
          log.appendChild(mine);
        } else add('operator', item.text);
        break;
      }
      case 'reply': {
        retireActions();
        const li = add('bot', item.text);
        li.dataset.purpose = item.purpose;
        if (item.choices.length) {
          actions(li, item.choices.map((c) => [`${c.number}. ${c.question}`, { type: 'choose', client_id: newId(), choice: c.number }, `choice-${c.number}`]));
        } else if (item.asks_feedback) {
          actions(li, [[T.resolved, { type: 'feedback', resolved: true }, 'resolved'], [T.unresolved, { type: 'feedback', resolved: false }, 'unresolved']]);
        }
        break;
      }
      case 'choice_selected': retireActions(); add('system', T.chose(item.choice)); break;
      case 'feedback_given': retireActions(); add('system', item.resolved ? T.resolvedSaid : T.unresolvedSaid); break;
      case 'transferred': add('system', T.transferred(item.assignee)); break;
      case 'status_changed': break;
      case 'group_chat_created': add('system', T.groupChat); break;
      case 'session_closed': retireActions(); add('system', T.closed); break;
      case 'session_reopened': add('system', T.reopened); break;
      default: break; // a newer item kind: nothing to show
    }
    setConnection('online');
  }

  function failed(frame) {
    const li = frame.client_id && pending.get(frame.client_id);
    if (li) {
      li.classList.remove('pending');
      li.classList.add('failed');
      const why = document.createElement('span');
      why.className = 'error';
      why.textContent = T.failed + frame.message;
      li.appendChild(why);
      pending.delete(frame.client_id);
    } else {
      notice(frame.message);
    }
  }

  function connect() {
    if (!token) { notice(T.noToken); setConnection('stopped'); return; }
    setConnection('connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/teams/${encodeURIComponent(team)}/channel/ws`);
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'hello', token, resume_after: lastVersion }));
    });
    socket.addEventListener('message', (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === 'ready') {
        retry = 500;
        notice('');
        setConnection('online');
        resend();
      }
      else if (frame.type === 'event') show(frame);
      else if (frame.type === 'error') failed(frame);
    });
    socket.addEventListener('close', (e) => {
      socket = null;
      if (e.code === 4401 || e.code === 4404 || e.code === 4400 || e.code === 4429) {
        stopped = true;
        setConnection('stopped');
        notice(e.code === 4401 ? T.expired : e.reason);
        return;
      }
      if (stopped) return;
      setConnection('offline');
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  // Messages typed while offline, or sent just before a drop, go again with the same
  // client_id: the server records each once.
  function resend() {
    for (const [clientId, li] of pending) command({ type: 'message', client_id: clientId, text: li.dataset.text });
  }

  $('compose').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    const clientId = newId();
    const li = add('operator pending', value);
    li.dataset.text = value;
    li.dataset.clientId = clientId;
    pending.set(clientId, li);
    command({ type: 'message', client_id: clientId, text: value });
    text.value = '';
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('compose').requestSubmit(); }
  });
  $('human').addEventListener('click', () => command({ type: 'human' }));
  $('end').addEventListener('click', () => command({ type: 'close' }));
  // The embedding page renews the token by changing the fragment: reconnect with the new
  // one and keep the conversation on screen (a token of another user starts afresh).
  const userOf = (t) => { try { return JSON.parse(atob(t.split('.')[2].replace(/-/g, '+').replace(/_/g, '/'))).u; } catch { return null; } };
  window.addEventListener('hashchange', () => {
    const next = new URLSearchParams(location.hash.slice(1)).get('token') || '';
    if (next === token) return;
    const sameUser = userOf(next) !== null && userOf(next) === userOf(token);
    token = next;
    if (!sameUser && lastVersion > 0) { location.reload(); return; }
    stopped = false;
    retry = 500;
    notice('');
    if (socket) socket.close(); else connect();
  });
  // Keeps idle proxies from dropping the connection.
  setInterval(() => command({ type: 'ping' }), 25000);
  connect();
})();
