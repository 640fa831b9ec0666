//! Pages in 中文 or English: chosen per request from `ui_locales` (OIDC Core §3.1.2.1) or else
//! `Accept-Language`, and kept for the request in a task-local, so page functions need no extra
//! argument. Text is written in English at the call site and looked up here.

use poem::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Every language the pages are written in, the default (English) first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

tokio::task_local! {
    static LANG: Lang;
}

/// The language of the page being rendered (English outside a request).
pub fn current() -> Lang {
    LANG.try_with(|l| *l).unwrap_or(Lang::En)
}

fn lang_of(tag: &str) -> Option<Lang> {
    let tag = tag.trim().to_ascii_lowercase();
    if tag.starts_with("zh") {
        Some(Lang::Zh)
    } else if tag.starts_with("en") {
        Some(Lang::En)
    } else {
        None
    }
}

/// `ui_locales` first (the client's explicit choice), then the browser's `Accept-Language` by
/// quality, then English.
pub fn choose(req: &Request) -> Lang {
    let ui_locales = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "ui_locales").map(|(_, v)| v.into_owned())
    });
    if let Some(lang) = ui_locales.as_deref().and_then(|v| v.split(' ').find_map(lang_of)) {
        return lang;
    }
    let accept = req.headers().get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut best: Option<(f32, Lang)> = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let Some(lang) = parts.next().and_then(lang_of) else { continue };
        let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// Renders `f` in the language `ui_locales` asks for (pages later in the flow than /authorize,
/// such as consent, still follow the client's choice); without one, in the request's language.
pub fn with_ui_locales<R>(ui_locales: Option<&str>, f: impl FnOnce() -> R) -> R {
    match ui_locales.and_then(|v| v.split(' ').find_map(lang_of)) {
        Some(lang) => LANG.sync_scope(lang, f),
        None => f(),
    }
}

/// The text in the current language (unknown text stays as written).
pub fn t(text: &str) -> &str {
    if current() == Lang::En {
        return text;
    }
    ZH.iter().find(|(en, _)| *en == text).map_or(text, |(_, zh)| zh)
}

const ZH: &[(&str, &str)] = &[
    ("Invalid sign-in request", "登录请求无效"),
    ("Sign-in failed", "登录失败"),
    ("Sign-out request refused", "退出请求被拒绝"),
    ("Invalid request", "请求无效"),
    ("Request refused", "请求被拒绝"),
    ("Temporarily unavailable", "服务暂时不可用"),
    ("Too many requests", "请求过多"),
    ("Sign-in expired", "登录已过期"),
    ("DingTalk sign-in failed", "钉钉登录失败"),
    ("Allow access", "授权访问"),
    ("Allow", "允许"),
    ("Deny", "拒绝"),
    ("Returning to the application", "正在返回应用"),
    ("Continue", "继续"),
    (
        "JavaScript is turned off. Press Continue to return to the application.",
        "JavaScript 已关闭。请点击“继续”返回应用。",
    ),
    ("Sign out", "退出登录"),
    ("Sign out?", "退出登录？"),
    ("Signed out", "已退出"),
    ("You are signed out", "您已退出登录"),
    ("You can close this window.", "您可以关闭此窗口。"),
    // `{product}` is `branding.product_name` (`templates/logout_confirm.html`).
    ("Do you want to sign out of {product} on this browser?", "要在此浏览器上退出{product}吗？"),
    // The default `branding.product_name`.
    ("DingTalk sign-in", "钉钉登录"),
    // The account page (`templates/account.html`, `account`).
    ("Your account", "我的账号"),
    ("Profile", "个人资料"),
    ("As DingTalk gave it at your last sign-in.", "来自您上次登录时钉钉提供的信息。"),
    ("Name", "姓名"),
    ("Title", "职位"),
    ("Email", "邮箱"),
    ("Mobile", "手机号"),
    ("DingTalk user id", "钉钉用户 ID"),
    ("DingTalk union id", "钉钉 unionId"),
    ("Organisation", "组织"),
    ("Departments and their parents", "所在部门及上级部门"),
    ("Roles", "角色"),
    ("Where you are signed in", "登录设备"),
    ("Signed in", "登录于"),
    ("this browser", "当前浏览器"),
    ("Apps:", "应用："),
    ("Sign out of this browser", "退出当前浏览器"),
    ("Sign out of that session", "退出该会话"),
    ("Sign out everywhere else", "退出其他所有会话"),
    ("Connected apps", "已授权的应用"),
    ("allowed on", "授权于"),
    ("Withdraw consent from", "撤回授权："),
    ("No app has asked for your consent yet.", "还没有应用请求过您的授权。"),
    ("Sign in with DingTalk", "使用钉钉登录"),
    ("The session was signed out.", "该会话已退出。"),
    ("Every other session was signed out.", "其他所有会话均已退出。"),
    (
        "Consent withdrawn: the app's tokens no longer work, and it must ask you again.",
        "已撤回授权：该应用的令牌已失效，下次使用需重新征得您的同意。",
    ),
    ("The sign-in was cancelled or refused.", "登录已取消或被拒绝。"),
    ("Already gone", "已不存在"),
    ("That session or app is no longer there. Reload your account page.", "该会话或应用已不存在。请刷新账号页面。"),
    (
        "This form was not submitted from the page we showed you. Reload your account page.",
        "此表单并非从我们展示的页面提交。请刷新账号页面。",
    ),
    ("The form could not be read.", "无法读取表单。"),
    ("Signed in with DingTalk as", "已通过钉钉登录为"),
    ("asks to:", "请求："),
    ("you", "您"),
    ("know who you are", "知道您是谁"),
    ("see your name, DingTalk user id and avatar", "查看您的姓名、钉钉用户 ID 和头像"),
    ("see your email address", "查看您的电子邮件地址"),
    ("see your mobile number", "查看您的手机号码"),
    ("stay signed in when you are away", "在您离开时保持登录"),
    ("see your roles", "查看您的角色"),
    ("see your DingTalk departments", "查看您的钉钉部门"),
    ("see your DingTalk ids, title and departments", "查看您的钉钉 ID、职位和部门"),
    ("manage this provider", "管理此身份服务"),
    ("access this", "访问此范围"),
    ("The request body must be a form.", "请求体必须是表单。"),
    ("A parameter was sent more than once.", "有参数重复出现。"),
    ("The request has no client_id.", "请求缺少 client_id。"),
    ("The request has no redirect_uri.", "请求缺少 redirect_uri。"),
    ("The application (client_id) is not registered.", "该应用（client_id）未注册。"),
    ("The client_id or redirect_uri parameter was sent more than once.", "client_id 或 redirect_uri 参数重复出现。"),
    (
        "The redirect_uri is not registered for this application, so we will not send you there.",
        "该 redirect_uri 未为此应用注册，因此不会将您跳转过去。",
    ),
    (
        "The response from DingTalk carries no state. Start again from the application.",
        "钉钉的响应缺少 state。请回到应用重新开始。",
    ),
    (
        "This sign-in has expired or was already completed. Start again from the application.",
        "此次登录已过期或已完成。请回到应用重新开始。",
    ),
    (
        "This sign-in was started in another browser. Start again from the application.",
        "此次登录是在另一个浏览器中发起的。请回到应用重新开始。",
    ),
    (
        "DingTalk returned no authorization code. Start again from the application.",
        "钉钉没有返回授权码。请回到应用重新开始。",
    ),
    ("The application was removed while you were signing in.", "您登录期间该应用已被移除。"),
    ("The consent form could not be read.", "无法读取授权表单。"),
    (
        "This form was not submitted from the page we showed you. Start again from the application.",
        "该表单不是从我们显示的页面提交的。请回到应用重新开始。",
    ),
    ("This form was not submitted from the page we showed you.", "该表单不是从我们显示的页面提交的。"),
    (
        "This consent page has expired or was already answered. Start again from the application.",
        "此授权页面已过期或已答复。请回到应用重新开始。",
    ),
    ("The id_token_hint was not issued by this provider.", "id_token_hint 不是由本服务签发的。"),
    ("The client_id does not match the id_token_hint.", "client_id 与 id_token_hint 不符。"),
    (
        "The post_logout_redirect_uri is not registered for this application.",
        "该 post_logout_redirect_uri 未为此应用注册。",
    ),
    ("The form could not be read.", "无法读取表单。"),
    ("This sign-out page has expired.", "此退出页面已过期。"),
    ("This sign-out page has expired. Sign out again from the application.", "此退出页面已过期。请从应用中再次退出。"),
    (
        "The sign-in service cannot reach its storage right now. Please retry shortly.",
        "登录服务暂时无法访问其存储。请稍后重试。",
    ),
    (
        "Too many requests came from your network. Please wait a moment and try again.",
        "来自您网络的请求过多。请稍候再试。",
    ),
    ("DingTalk is temporarily unavailable. Please try again in a moment.", "钉钉暂时不可用。请稍后再试。"),
    ("Your DingTalk session is no longer valid. Please sign in again.", "您的钉钉会话已失效。请重新登录。"),
    ("Your DingTalk account is not a member of the required organization.", "您的钉钉账号不属于所需的组织。"),
    ("DingTalk returned an unexpected response. Please try again later.", "钉钉返回了意外的响应。请稍后再试。"),
    ("Signing in with DingTalk failed. Please try again.", "钉钉登录失败。请重试。"),
    // Sign-in inside the DingTalk client (`oidc::in_app`).
    ("Signing in with DingTalk", "正在通过钉钉登录"),
    ("Asking the DingTalk app who you are…", "正在向钉钉确认您的身份…"),
    ("Continue with DingTalk", "继续使用钉钉登录"),
    (
        "DingTalk organisations whose users may sign in (corp ids, space-separated; empty: the default one)",
        "允许登录的钉钉组织（corpId，以空格分隔；留空：默认组织）",
    ),
    ("DingTalk organisations", "钉钉组织"),
    ("All", "全部"),
    (
        "The API this client stands for (RFC 8707 resource URI; empty: none)",
        "此客户端代表的 API（RFC 8707 资源 URI；留空：无）",
    ),
    ("The API's scopes (space-separated)", "该 API 的 scope（以空格分隔）"),
    ("API resource URI", "API 资源 URI"),
    ("API scopes", "API scope"),
    ("Organisation whose department and role ids these are", "部门和角色 ID 所属的组织"),
    // The organisation picker (`oidc::organisation`).
    ("Choose your organisation", "选择您的组织"),
    ("Sign in with the DingTalk account of the organisation you work for.", "请使用您所在组织的钉钉账号登录。"),
    (
        "The choice of organisation is incomplete. Start again from the application.",
        "组织选择不完整。请回到应用重新开始。",
    ),
    (
        "This organisation cannot be used to sign in here. Start again from the application.",
        "无法通过此组织登录此应用。请回到应用重新开始。",
    ),
    (
        "The sign-in form names no organisation of this sign-in. Start again from the application.",
        "登录表单未指明本次登录的组织。请回到应用重新开始。",
    ),
    (
        "Scan the code with the DingTalk app, or continue on DingTalk's sign-in page.",
        "请用钉钉扫描二维码，或前往钉钉登录页继续。",
    ),
    ("The sign-in form could not be read. Start again from the application.", "无法读取登录表单。请回到应用重新开始。"),
    (
        "The sign-in form carries no state. Start again from the application.",
        "登录表单缺少 state。请回到应用重新开始。",
    ),
    (
        "The sign-in from inside DingTalk could not be completed; the authorization may have expired or been used \
         already. Please open the application again.",
        "无法完成钉钉内的登录，授权可能已过期或已被使用。请重新打开应用。",
    ),
    // The admin console (`console`).
    ("Sign-ins per hour, last 24 hours (UTC)", "每小时登录次数（最近 24 小时，UTC）"),
    ("sign-ins, counted from the audit log of every instance.", "次登录，按所有实例的审计日志统计。"),
    ("This instance since it started", "本实例自启动以来"),
    ("The metrics recorder is not installed in this process.", "本进程未安装指标记录器。"),
    ("Tokens issued by grant", "按授权类型统计的已签发令牌"),
    ("None yet.", "暂无。"),
    ("Failed sign-ins by kind", "按类型统计的登录失败"),
    ("Error responses by route and status", "按路径和状态统计的错误响应"),
    ("DingTalk latency by endpoint", "按接口统计的钉钉延迟"),
    ("Endpoint", "接口"),
    ("Calls", "调用次数"),
    ("Mean (ms)", "平均（毫秒）"),
    ("95th percentile (ms)", "95 百分位（毫秒）"),
    ("Audit log", "审计日志"),
    ("Kind", "类型"),
    ("any", "任意"),
    ("Actor (user id, bootstrap, cli, scheduler)", "操作者（用户 ID、bootstrap、cli、scheduler）"),
    ("Subject (user id, client id, role, kid)", "对象（用户 ID、客户端 ID、角色、kid）"),
    ("Filter", "筛选"),
    ("When", "时间"),
    ("Actor", "操作者"),
    ("Subject", "对象"),
    ("Client", "客户端"),
    ("Detail", "详情"),
    ("No event matches.", "没有匹配的事件。"),
    ("Take the grant away", "收回授予"),
    ("Grant a role", "授予角色"),
    ("Grant", "授予"),
    ("Description", "描述"),
    ("Mapping rules", "映射规则"),
    ("Create a role", "创建角色"),
    ("Name (1 to 64 of A-Z a-z 0-9 - _ . :)", "名称（1 到 64 个 A-Z a-z 0-9 - _ . : 字符）"),
    ("Create", "创建"),
    ("Who gets the role", "谁获得此角色"),
    ("Remove", "移除"),
    ("No mapping rule: only direct grants give this role.", "没有映射规则：只有直接授予才会赋予此角色。"),
    ("A rule: preview who it matches, then add it", "规则：先预览匹配的用户，再添加"),
    ("Who", "谁"),
    ("DingTalk department or role id", "钉钉部门或角色 ID"),
    ("Preview", "预览"),
    ("of the users seen so far would get this role", "位已登录过的用户将获得此角色"),
    ("Add this rule", "添加此规则"),
    ("Who holds it now", "当前持有者"),
    ("Nobody yet.", "暂无。"),
    ("Delete this role", "删除此角色"),
    ("Members of a department", "部门成员"),
    ("Members of a department or one below it", "部门及其下级部门的成员"),
    ("Holders of a DingTalk role", "钉钉角色的持有者"),
    ("DingTalk organisation admins", "钉钉组织管理员"),
    ("Department leaders (of the department, or of any when empty)", "部门负责人（指定部门；留空则为任意部门）"),
    ("The role was created.", "角色已创建。"),
    ("The role was deleted, with its grants and mapping rules.", "角色已删除，其授予和映射规则一并删除。"),
    (
        "The mapping rule was added: it applies from each user's next sign-in or recheck.",
        "映射规则已添加：从每位用户下次登录或复查时生效。",
    ),
    ("The mapping rule was removed.", "映射规则已移除。"),
    ("The role was granted.", "角色已授予。"),
    ("The grant was taken away.", "授予已收回。"),
    ("No role.", "没有角色。"),
    ("No live session.", "没有活动会话。"),
    ("End this session", "结束此会话"),
    ("The session ended.", "会话已结束。"),
    ("A public client has no secret; it proves itself with PKCE.", "公开客户端没有密钥，通过 PKCE 证明自己。"),
    ("Access-token lifetime in seconds (empty: the default)", "访问令牌有效期（秒，留空为默认值）"),
    ("Actions", "操作"),
    ("Admin console", "管理控制台"),
    ("Allowed scopes (space-separated)", "允许的 scope（以空格分隔）"),
    ("Grant types (space-separated)", "授权类型（以空格分隔）"),
    ("Only pushed authorization requests (RFC 9126)", "只接受推送的授权请求（RFC 9126）"),
    ("Client authentication", "客户端认证方式"),
    ("JWK Set URI", "JWK 集 URI"),
    ("Allowed scopes (space-separated; empty: the defaults)", "允许的 scope（以空格分隔，留空为默认值）"),
    ("Allowed scopes", "允许的 scope"),
    ("Apps", "应用"),
    ("Back-channel logout URI", "后端通道退出 URI"),
    ("Bootstrap token", "引导令牌"),
    ("Cancel", "取消"),
    ("Client id", "客户端 ID"),
    ("Client registered", "客户端已注册"),
    ("Client secret", "客户端密钥"),
    ("Clients", "客户端"),
    ("Console", "控制台"),
    (
        "Copy the secret now: it is shown this once and cannot be shown again.",
        "请立即复制密钥：它只显示这一次，之后无法再次查看。",
    ),
    ("Created", "创建时间"),
    ("Delete this client", "删除此客户端"),
    ("Disable", "停用"),
    ("Enable", "启用"),
    ("First start", "首次启动"),
    ("First-party (no consent page)", "第一方应用（不显示授权页面）"),
    ("Grant types", "授权类型"),
    ("ID-token lifetime in seconds (empty: the default)", "ID 令牌有效期（秒，留空为默认值）"),
    ("Issuer", "签发者"),
    ("Last sign-in", "最近登录"),
    ("Last used", "最近使用"),
    ("Leaves the key set", "移出密钥集"),
    ("Next key", "下一个密钥"),
    ("Next scheduled rotation", "下次计划轮换"),
    ("Next scheduled rotation:", "下次计划轮换："),
    ("Next", "下一页"),
    ("Overview", "概览"),
    (
        "Pending keys are published before they sign; retired keys stay published until every token they signed has expired. Relying parties cache the key set for",
        "待用密钥在签名前发布；退役密钥在其签发的所有令牌过期前保持发布。依赖方缓存密钥集的时长为",
    ),
    ("Please confirm", "请确认"),
    ("Post-logout redirect URIs (one per line)", "退出后重定向 URI（每行一个）"),
    ("Post-logout redirect URIs", "退出后重定向 URI"),
    ("Previous", "上一页"),
    ("Public client (no secret; PKCE)", "公开客户端（无密钥，使用 PKCE）"),
    ("Redirect URIs (one per line)", "重定向 URI（每行一个）"),
    ("Redirect URIs", "重定向 URI"),
    ("Register a client", "注册客户端"),
    ("Register", "注册"),
    ("Registered clients", "已注册的客户端"),
    ("Retired", "退役时间"),
    ("Revoke", "吊销"),
    ("Role", "角色"),
    ("Rotate the secret", "轮换密钥"),
    ("Rotate", "轮换"),
    ("Save", "保存"),
    ("Search by name, email or DingTalk id", "按姓名、邮箱或钉钉 ID 搜索"),
    ("Search", "搜索"),
    ("Secret rotated", "密钥已轮换"),
    ("Sessions", "会话"),
    ("Sign in with the token", "使用令牌登录"),
    ("Sign out everywhere", "退出所有会话"),
    ("Sign with the new key at once", "立即使用新密钥签名"),
    ("Signing key", "签名密钥"),
    ("Signing keys", "签名密钥"),
    ("Signs from", "开始签名"),
    ("State", "状态"),
    ("Status", "状态"),
    ("To the client", "返回客户端"),
    ("Type", "类型"),
    ("User id (sub)", "用户 ID（sub）"),
    ("Users", "用户"),
    ("Where it comes from", "来源"),
    ("Yes, do it", "确定执行"),
    ("a new key is published", "新密钥在签名前"),
    ("before it signs.", "发布。"),
    ("direct grant", "直接授予"),
    ("disabled", "已停用"),
    ("first-party", "第一方"),
    ("mapping rule:", "映射规则："),
    ("none", "无"),
    ("organisation admin", "组织管理员"),
    ("read only", "只读"),
    ("signs from", "开始签名于"),
    ("users", "位用户"),
    ("public", "公开"),
    ("confidential", "机密"),
    ("pending", "待用"),
    ("active", "使用中"),
    ("retired", "已退役"),
    ("removed", "已移除"),
    ("revoked", "已吊销"),
    ("Saved.", "已保存。"),
    ("The client was deleted.", "客户端已删除。"),
    ("The user was disabled: every session and token ended.", "用户已停用：其所有会话和令牌均已失效。"),
    ("The user may sign in again.", "用户可以再次登录。"),
    ("Every session of the user ended.", "该用户的所有会话均已结束。"),
    ("A new key is published; it signs when its lead time has passed.", "新密钥已发布，提前期过后开始签名。"),
    ("A new key is published and signs from now.", "新密钥已发布，并从现在起签名。"),
    (
        "The key was revoked: it left the key set, and its tokens no longer verify.",
        "密钥已吊销：它已移出密钥集，其签发的令牌不再有效。",
    ),
    ("No access to the console", "无权访问控制台"),
    ("Your account has neither the admin nor the auditor role.", "您的账号既没有 admin 角色也没有 auditor 角色。"),
    ("Read-only access", "只读权限"),
    ("Changes need the admin role.", "修改需要 admin 角色。"),
    ("Sign-in not recognised", "无法识别此次登录"),
    (
        "This sign-in was not started in this browser, or it took too long. Sign in again.",
        "此次登录不是在此浏览器中发起的，或耗时过长。请重新登录。",
    ),
    ("Sign-in refused", "登录被拒绝"),
    ("Not found", "未找到"),
    ("Already exists", "已存在"),
    ("Not changed", "未修改"),
    ("That is not the bootstrap token.", "这不是引导令牌。"),
    (
        "This form was not submitted from the page we showed you. Reload the page.",
        "该表单不是从我们显示的页面提交的。请刷新页面。",
    ),
    ("Reload the page and try again.", "请刷新页面后重试。"),
    ("Sign in a device", "登录设备"),
    ("Sign in on", "在此设备登录："),
    ("Check that your device shows this code:", "请确认您的设备显示的是此代码："),
    ("Only continue if you started this on your own device just now.", "仅当您刚刚在自己的设备上发起此请求时才继续。"),
    ("Enter the code shown on your device", "输入设备上显示的代码"),
    ("Continue", "继续"),
    ("That code is not valid. Check the code on your device.", "该代码无效。请核对设备上显示的代码。"),
    ("Code already used", "代码已使用"),
    ("This code has been answered. Start again on your device.", "此代码已被处理。请在设备上重新开始。"),
    ("Code expired", "代码已过期"),
    ("This code has expired. Start again on your device.", "此代码已过期。请在设备上重新开始。"),
    ("Application removed", "应用已删除"),
    ("The application that asked was removed.", "发起请求的应用已被删除。"),
    ("Device approved", "设备已授权"),
    ("You are signed in on your device. You can close this window.", "您已在设备上登录。可以关闭此窗口。"),
    ("Request denied", "请求已拒绝"),
    ("The device was not signed in. You can close this window.", "设备未登录。可以关闭此窗口。"),
    ("Your sign-in has ended. Sign in again.", "您的登录已结束。请重新登录。"),
    (
        "Your organisation is not one this application accepts. Sign in with another account.",
        "此应用不接受您所在的组织。请使用其他账号登录。",
    ),
    ("Your organisation is not one this application accepts.", "此应用不接受您所在的组织。"),
    ("The form could not be read.", "无法读取表单。"),
];

/// Runs `f` with `lang` as the page language (tests of text outside a request).
#[cfg(test)]
pub fn scoped_sync<R>(lang: Lang, f: impl FnOnce() -> R) -> R {
    LANG.sync_scope(lang, f)
}

/// Runs `fut` with `lang` as the page language.
pub async fn scoped<F: std::future::Future>(lang: Lang, fut: F) -> F::Output {
    LANG.scope(lang, fut).await
}

/// Whether responses of `route` can be pages (only pages are translated: the JSON endpoints skip
/// parsing the query and `Accept-Language`).
pub fn renders_pages(route: &str) -> bool {
    crate::web::observe::is_page(route) || route == "other"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str, accept: &str) -> Request {
        Request::builder()
            .uri(format!("/authorize?{query}").parse().unwrap())
            .header("accept-language", accept)
            .finish()
    }

    #[test]
    fn ui_locales_wins_then_accept_language_by_quality() {
        assert_eq!(choose(&req("ui_locales=zh-CN%20en", "en")), Lang::Zh);
        assert_eq!(choose(&req("ui_locales=fr", "en;q=0.5, zh-CN;q=0.9")), Lang::Zh);
        assert_eq!(choose(&req("", "fr, en;q=0.8")), Lang::En);
        assert_eq!(choose(&req("", "")), Lang::En);
    }

    #[tokio::test]
    async fn text_follows_the_request_language() {
        assert_eq!(t("Allow"), "Allow");
        let zh = LANG.scope(Lang::Zh, async { t("Allow").to_string() }).await;
        assert_eq!(zh, "允许");
        let unknown = LANG.scope(Lang::Zh, async { t("not in the table").to_string() }).await;
        assert_eq!(unknown, "not in the table");
    }
}
