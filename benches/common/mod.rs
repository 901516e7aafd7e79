//! What the benchmarks share: the desk they run (three departments, one
//! of them English) and the mail they feed it.
#![allow(dead_code)]

/// The benchmarks' configuration: Maildir in and out, the store beside
/// it, no daily cap; R&D (Chinese), Operations (English) and Sales, whose
/// 赵六 raises the requirements. `[store] batch` is `batch`.
pub fn desk_toml(batch: usize) -> String {
    format!(
        r#"
[mail]
address = "workflow@corp.example"
display_name = "协作流程助手"
source = "maildir:inbox"
transport = "maildir:outbox"
watermark = "all"
[store]
path = "crossdesk.db"
batch = {batch}
[limits]
daily_cap_per_recipient = 100000000
[[departments]]
id = "rd"
name = "研发部"
aliases = ["研发", "R&D"]
group = "rd@corp.example"
leads = ["王磊 <wanglei@corp.example>"]
members = ["张三 <zhangsan@corp.example>", "alice@corp.example"]
[[departments]]
id = "ops"
name = "Operations"
group = "ops@corp.example"
leads = ["Dave Lee <dave@corp.example>"]
members = ["Bob Smith <bob@corp.example>"]
locale = "en"
[[departments]]
id = "sales"
name = "销售部"
group = "sales@corp.example"
leads = ["李娜 <lina@corp.example>"]
members = ["赵六 <zhaoliu@corp.example>"]
"#
    )
}

/// A new requirement from 赵六 (sales) for `dept` (`研发`, `ops`, …),
/// batch `n` of a customer-data export, Message-ID `<{id}@corp.example>`.
pub fn new_req(id: &str, n: usize, dept: &str) -> Vec<u8> {
    mail(
        id,
        "赵六 <zhaoliu@corp.example>",
        "workflow@corp.example",
        &format!("【需求】导出客户数据 第{n}批"),
        None,
        &format!(
            "部门：{dept}\n截止日期：2027-06-15\n质量要求：字段齐全，无重复\n优先级：高\n\n请导出华东区客户数据，供季度复盘使用。\n"
        ),
    )
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A plain-text UTF-8 mail with Message-ID `<{id}@corp.example>`,
/// subject and body in base64 (as Chinese clients send them), in reply to
/// `reply_to` when given.
pub fn mail(
    id: &str,
    from: &str,
    to: &str,
    subject: &str,
    reply_to: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let irt = reply_to
        .map(|r| format!("In-Reply-To: <{r}>\r\nReferences: <{r}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?UTF-8?B?{}?=\r\nMessage-ID: <{id}@corp.example>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0800\r\n{irt}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(subject),
        b64(body)
    )
    .into_bytes()
}
