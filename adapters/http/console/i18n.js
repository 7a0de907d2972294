// The console's texts in Chinese and English. Every key exists in both languages; a
// missing key shows itself in brackets so it is noticed.

const texts = {
  zh: {
    team: '团队', logout: '退出', login: '登录', key: '访问密钥', remember: '在这台电脑上记住',
    login_hint: '输入团队管理员发给你的访问密钥（sbk.<团队>.…），或全局管理员密钥。',
    login_failed: '密钥无效', sessions: '会话', faqs: 'FAQ', candidates: 'FAQ 候选', statistics: '统计',
    settings: '团队设置', onboarding: '新建团队',
    status: '状态', all: '全部', assignee: '处理人', category: '分类', text: '问题包含', from: '从', to: '到',
    filter: '筛选', reset: '重置', opened: '开始时间', user: '运营', question: '问题', messages: '消息',
    next_page: '下一页', first_page: '第一页', new_sessions: '有 {n} 个新会话，点击刷新', none: '没有数据',
    st_collecting: '收集信息', st_matching: '匹配中', st_awaiting_choice: '待选择', st_answered: '已答复',
    st_with_human: '人工处理', st_waiting: '等待运营', st_reconfirming: '确认中', st_closed: '已关闭',
    back: '返回', conversation: '会话详情', timeline: '时间线', remarks: '备注', add_remark: '添加备注',
    remark_placeholder: '只给值班同学看的备注…', reply: '回复运营', reply_placeholder: '回复内容…', send: '发送',
    take_over: '转给我', transfer_to: '转给', transfer: '转接', wait: '等待运营', close: '关闭会话', reopen: '重新打开',
    group_chat: '拉群', matched: '匹配的 FAQ', confidence: '置信度', decision: '决定', score: '得分',
    keyword: '关键词', semantic: '语义', engine: '引擎', stale: '会话已被别人更新，已刷新，请重试。',
    done: '已完成', saved: '已保存', operator: '运营', switchboard: 'Switchboard', staff: '值班同学', staff_id: '值班同学账号',
    d_answer: '直接答复', d_clarify: '请选择', d_transfer: '转人工', session: '会话',
    faq_id: 'ID', answer: '答案', paraphrases: '相似问法（用 | 分隔）', revision: '版本', edit: '编辑', delete: '删除',
    save: '保存', cancel: '取消', new_faq: '新建 FAQ', search: '搜索', upload: '批量导入', upload_hint: 'CSV、Excel（.xlsx）或 JSON Lines；列：id, question, answer, category, paraphrases',
    preview: '预览', import: '导入', rows: '行', added: '新增', updated: '更新', unchanged: '不变', problems: '有问题的行',
    line: '行号', problem: '问题', imported: '已导入 {n} 条', export: '导出', confirm_delete: '确定删除这条 FAQ？',
    c_unanswered: '未答出', c_transferred: '转人工', c_not_resolved: '未解决', c_reopened: '重新打开',
    count: '次数', examples: '问法', approve: '通过并创建 FAQ', reject: '忽略', merge_into: '或并入已有 FAQ',
    approved: '已通过', rejected: '已忽略', answer_required: '请先写答案',
    period: '时间范围', days7: '最近 7 天', days30: '最近 30 天', days90: '最近 90 天',
    s_opened: '会话数', s_closed: '关闭', s_auto_rate: '自动解决率', s_transfer_rate: '转人工率',
    s_first_answer: '首次答复（中位 / P90）', s_resolution: '解决用时（中位 / P90）', s_reconfirmed: '二次确认',
    s_auto_closed: '超时关闭', per_day: '每日会话', top_faqs: '最常用的 FAQ', per_category: '按分类', per_assignee: '按值班同学',
    policies: '策略', reconfirm_after: '多久无回复后确认（秒）', close_after: '确认后多久关闭（秒）', answer_at: '直接答复阈值',
    clarify_at: '请选择阈值', human_keywords: '转人工关键词（逗号分隔）', group_chat_on_transfer: '转人工时自动拉群',
    console_language: '控制台语言', page_size: '每页会话数', refresh_secs: '刷新间隔（秒）', advanced: '全部设置（JSON）',
    roster: '值班表', default_roster: '默认值班', add_category: '添加分类', people: '值班同学（逗号分隔，按轮换顺序）',
    webhooks: 'Webhook', webhooks_help: '把本团队的事件推送到你的系统：每次投递用密钥做 HMAC-SHA256 签名，失败按指数退避重试，同一会话按顺序送达。',
    hook_types: '事件类型', hook_types_hint: '事件类型，逗号分隔；留空为全部', add_webhook: '添加 Webhook', hook_secret_once: '签名密钥只显示一次，请立即保存：',
    secret_missing: '本实例缺少密钥', deliveries: '投递记录', d_pending: '待发送', d_failed: '失败待重试', d_delivered: '已送达', d_gave_up: '已放弃',
    replay: '重新投递', replayed: '已重新排队', attempts: '次数', last_error: '最近错误', event: '事件', time: '时间', remove: '删除', signing_secret: '签名密钥',
    keys: '访问密钥', label: '用途', role: '角色', issue_key: '发放密钥', revoke: '吊销', token_once: '请立即保存，这个密钥只显示一次：',
    r_viewer: '只读', r_agent: '值班', r_admin: '管理员',
    wecom: '企业微信应用', callback_url: '回调 URL', corp_id: '企业 ID（CorpID）', agent_id: 'AgentId', token: 'Token',
    aes_key: 'EncodingAESKey', secret: '应用 Secret', api_base: 'API 地址（可选）', console_url: '控制台地址（群聊链接用）',
    greeting: '欢迎语', keep_secret: '留空则保持原值', verify: '测试 URL 验证', receiving: '接收回调', sending: '发送消息',
    from_config: '该应用在配置文件中设置，不能在这里修改。', remove_wecom: '移除应用', checklist: '上线清单',
    ck_faq: '导入 FAQ', ck_roster: '填写值班同学', ck_wecom: '配置企业微信应用', ck_verify: '回调 URL 可用', ck_keys: '给值班同学发放密钥',
    new_team: '新建团队', team_id: '团队 ID（字母、数字、-、_）', team_name: '团队名称', template: '模板团队', no_template: '（不使用模板）',
    copy_people: '同时复制值班同学', create: '创建', created: '团队已创建', yes: '是', no: '否', loading: '加载中…',
    error: '出错了', version_conflict: '数据已被别人修改，已刷新，请重试。',
  },
  en: {
    team: 'Team', logout: 'Log out', login: 'Log in', key: 'Access key', remember: 'Remember on this computer',
    login_hint: 'Enter the access key your team admin gave you (sbk.<team>.…), or a global administrator key.',
    login_failed: 'That key is not valid', sessions: 'Sessions', faqs: 'FAQ', candidates: 'FAQ candidates', statistics: 'Statistics',
    settings: 'Team settings', onboarding: 'New team',
    status: 'Status', all: 'All', assignee: 'Assignee', category: 'Category', text: 'Question contains', from: 'From', to: 'To',
    filter: 'Filter', reset: 'Reset', opened: 'Opened', user: 'Operator', question: 'Question', messages: 'Messages',
    next_page: 'Next page', first_page: 'First page', new_sessions: '{n} new sessions — click to refresh', none: 'Nothing here',
    st_collecting: 'Collecting', st_matching: 'Matching', st_awaiting_choice: 'Awaiting choice', st_answered: 'Answered',
    st_with_human: 'With a person', st_waiting: 'Waiting for operator', st_reconfirming: 'Reconfirming', st_closed: 'Closed',
    back: 'Back', conversation: 'Conversation', timeline: 'Timeline', remarks: 'Remarks', add_remark: 'Add remark',
    remark_placeholder: 'A note for the on-call engineers only…', reply: 'Reply to the operator', reply_placeholder: 'Your reply…', send: 'Send',
    take_over: 'Take over', transfer_to: 'Transfer to', transfer: 'Transfer', wait: 'Wait for operator', close: 'Close session', reopen: 'Reopen',
    group_chat: 'Group chat', matched: 'Matched FAQs', confidence: 'Confidence', decision: 'Decision', score: 'Score',
    keyword: 'Keyword', semantic: 'Semantic', engine: 'Engine', stale: 'Someone else changed this session; it was reloaded, please try again.',
    done: 'Done', saved: 'Saved', operator: 'Operator', switchboard: 'Switchboard', staff: 'Staff', staff_id: 'staff id',
    d_answer: 'Answer', d_clarify: 'Clarify', d_transfer: 'Transfer', session: 'Session',
    faq_id: 'ID', answer: 'Answer', paraphrases: 'Other wordings (separated by |)', revision: 'Revision', edit: 'Edit', delete: 'Delete',
    save: 'Save', cancel: 'Cancel', new_faq: 'New FAQ', search: 'Search', upload: 'Bulk import', upload_hint: 'CSV, Excel (.xlsx) or JSON Lines; columns: id, question, answer, category, paraphrases',
    preview: 'Preview', import: 'Import', rows: 'Rows', added: 'Added', updated: 'Updated', unchanged: 'Unchanged', problems: 'Rows with problems',
    line: 'Line', problem: 'Problem', imported: 'Imported {n} rows', export: 'Export', confirm_delete: 'Delete this FAQ?',
    c_unanswered: 'Unanswered', c_transferred: 'Transferred', c_not_resolved: 'Not resolved', c_reopened: 'Reopened',
    count: 'Count', examples: 'Wordings', approve: 'Approve as FAQ', reject: 'Dismiss', merge_into: 'or merge into an existing FAQ',
    approved: 'Approved', rejected: 'Dismissed', answer_required: 'Write the answer first',
    period: 'Period', days7: 'Last 7 days', days30: 'Last 30 days', days90: 'Last 90 days',
    s_opened: 'Sessions', s_closed: 'Closed', s_auto_rate: 'Automatic resolution', s_transfer_rate: 'Transfer rate',
    s_first_answer: 'First answer (median / p90)', s_resolution: 'Resolution (median / p90)', s_reconfirmed: 'Reconfirmed',
    s_auto_closed: 'Closed as stale', per_day: 'Sessions per day', top_faqs: 'Top FAQs', per_category: 'Per category', per_assignee: 'Per on-call engineer',
    policies: 'Policies', reconfirm_after: 'Reconfirm after silence (s)', close_after: 'Close after reconfirming (s)', answer_at: 'Answer threshold',
    clarify_at: 'Clarify threshold', human_keywords: 'Words that ask for a person (comma-separated)', group_chat_on_transfer: 'Open a group chat on every transfer',
    console_language: 'Console language', page_size: 'Sessions per page', refresh_secs: 'Refresh every (s)', advanced: 'All settings (JSON)',
    roster: 'On-call roster', default_roster: 'Default', add_category: 'Add category', people: 'Engineers (comma-separated, rotation order)',
    webhooks: 'Webhooks', webhooks_help: 'Push this team\'s events to your systems: every delivery is signed with HMAC-SHA256, retried with exponential backoff, and in order per conversation.',
    hook_types: 'Event types', hook_types_hint: 'event types, comma-separated; empty for all', add_webhook: 'Add webhook', hook_secret_once: 'The signing secret is shown only once, save it now:',
    secret_missing: 'secret missing on this instance', deliveries: 'Deliveries', d_pending: 'Pending', d_failed: 'Failed, will retry', d_delivered: 'Delivered', d_gave_up: 'Gave up',
    replay: 'Replay', replayed: 'Queued again', attempts: 'Attempts', last_error: 'Last error', event: 'Event', time: 'Time', remove: 'Remove', signing_secret: 'Signing secret',
    keys: 'Access keys', label: 'For', role: 'Role', issue_key: 'Issue key', revoke: 'Revoke', token_once: 'Save it now, this key is shown only once:',
    r_viewer: 'Viewer', r_agent: 'Agent', r_admin: 'Admin',
    wecom: 'WeCom application', callback_url: 'Callback URL', corp_id: 'CorpID', agent_id: 'AgentId', token: 'Token',
    aes_key: 'EncodingAESKey', secret: 'Application secret', api_base: 'API address (optional)', console_url: 'Console address (for group chat links)',
    greeting: 'Greeting', keep_secret: 'leave empty to keep', verify: 'Test URL verification', receiving: 'Receiving callbacks', sending: 'Sending messages',
    from_config: 'This application is set in the configuration file and cannot be changed here.', remove_wecom: 'Remove application', checklist: 'Go-live checklist',
    ck_faq: 'Import the FAQ', ck_roster: 'Fill in the on-call engineers', ck_wecom: 'Set up the WeCom application', ck_verify: 'Callback URL works', ck_keys: 'Issue keys to the engineers',
    new_team: 'New team', team_id: 'Team id (letters, digits, -, _)', team_name: 'Team name', template: 'Template team', no_template: '(no template)',
    copy_people: 'Also copy the on-call engineers', create: 'Create', created: 'Team created', yes: 'yes', no: 'no', loading: 'Loading…',
    error: 'Something went wrong', version_conflict: 'Someone else changed this; it was reloaded, please try again.',
  },
};

let language = localStorage.getItem('sb.lang') || (navigator.language || 'zh').slice(0, 2);
if (!texts[language]) language = 'zh';

/** The current language. */
export function lang() { return language; }

/** Switches the language (kept for the next visit). */
export function setLang(next) {
  language = texts[next] ? next : 'zh';
  localStorage.setItem('sb.lang', language);
  document.documentElement.lang = language === 'zh' ? 'zh-CN' : 'en';
}

/** A text in the current language, with `{name}` filled from `values`. */
export function t(key, values = {}) {
  const text = texts[language][key] ?? `[${key}]`;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

/** Both dictionaries, for the check that every key exists in each. */
export const dictionaries = texts;
