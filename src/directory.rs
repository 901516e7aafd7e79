//! Who is who: departments, their groups, leads and members. Built once from
//! the config (`Config::directory`); every permission check in the core
//! asks it.

use crate::model::Mailbox;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub group: Mailbox,
    pub leads: Vec<Mailbox>,
    pub members: Vec<Mailbox>,
    pub locale: String,
}

impl Department {
    pub fn is_lead(&self, addr: &str) -> bool {
        self.leads.iter().any(|m| m.address == addr)
    }

    /// Members and leads alike (a lead is a member of their department).
    pub fn has(&self, addr: &str) -> bool {
        self.is_lead(addr) || self.members.iter().any(|m| m.address == addr)
    }
}

#[derive(Debug, Clone)]
pub struct Directory {
    pub depts: Vec<Department>,
    pub default_locale: String,
    /// address → indexes of the departments the person belongs to.
    people: HashMap<String, Vec<usize>>,
    /// lower-cased display name → address (for `张三` as a task owner).
    names: HashMap<String, String>,
    /// lower-cased id/name/alias → department index.
    dept_names: HashMap<String, usize>,
    /// group address → department index.
    groups: HashMap<String, usize>,
}

impl Directory {
    pub fn new(depts: Vec<Department>, default_locale: &str) -> Directory {
        let mut people: HashMap<String, Vec<usize>> = HashMap::new();
        let mut names = HashMap::new();
        let mut dept_names = HashMap::new();
        let mut groups = HashMap::new();
        for (i, d) in depts.iter().enumerate() {
            for m in d.leads.iter().chain(d.members.iter()) {
                let e = people.entry(m.address.clone()).or_default();
                if !e.contains(&i) {
                    e.push(i);
                }
                if let Some(n) = &m.name {
                    names.entry(n.to_lowercase()).or_insert(m.address.clone());
                }
                // The local part also names a person (`alice` for alice@corp).
                if let Some((local, _)) = m.address.split_once('@') {
                    names.entry(local.to_string()).or_insert(m.address.clone());
                }
            }
            for n in std::iter::once(&d.id)
                .chain(std::iter::once(&d.name))
                .chain(d.aliases.iter())
            {
                dept_names.insert(n.to_lowercase(), i);
            }
            groups.insert(d.group.address.clone(), i);
        }
        Directory {
            depts,
            default_locale: default_locale.to_string(),
            people,
            names,
            dept_names,
            groups,
        }
    }

    pub fn is_known(&self, addr: &str) -> bool {
        self.people.contains_key(addr)
    }

    /// The departments a person belongs to (as member or lead).
    pub fn depts_of(&self, addr: &str) -> impl Iterator<Item = &Department> {
        self.people
            .get(addr)
            .into_iter()
            .flatten()
            .map(move |i| &self.depts[*i])
    }

    pub fn dept(&self, id: &str) -> Option<&Department> {
        self.depts.iter().find(|d| d.id == id)
    }

    /// A department by id, name or alias (case-insensitive).
    pub fn resolve_dept(&self, token: &str) -> Option<&Department> {
        self.dept_names
            .get(&token.trim().to_lowercase())
            .map(|i| &self.depts[*i])
    }

    /// The department whose group address this is.
    pub fn dept_by_group(&self, addr: &str) -> Option<&Department> {
        self.groups.get(addr).map(|i| &self.depts[*i])
    }

    pub fn is_member(&self, addr: &str, dept: &str) -> bool {
        self.dept(dept).is_some_and(|d| d.has(addr))
    }

    pub fn is_lead(&self, addr: &str, dept: &str) -> bool {
        self.dept(dept).is_some_and(|d| d.is_lead(addr))
    }

    /// Is `actor` a lead of any department `person` belongs to? (Leads may
    /// act for their members.)
    pub fn leads_person(&self, actor: &str, person: &str) -> bool {
        self.depts_of(person).any(|d| d.is_lead(actor))
    }

    /// The person's mailbox with their configured display name.
    pub fn person(&self, addr: &str) -> Mailbox {
        self.depts_of(addr)
            .flat_map(|d| d.leads.iter().chain(d.members.iter()))
            .find(|m| m.address == addr)
            .cloned()
            .unwrap_or_else(|| Mailbox::new(None, addr))
    }

    /// A task owner as written: an address, `Name <address>`, a configured
    /// member name (`张三`) or a local part (`alice`). Only known people.
    pub fn resolve_person(&self, token: &str) -> Option<Mailbox> {
        let t = token.trim();
        if let Some(m) = Mailbox::parse(t) {
            return self.is_known(&m.address).then(|| self.person(&m.address));
        }
        self.names.get(&t.to_lowercase()).map(|a| self.person(a))
    }

    /// The locale of a recipient: their department's, else the default.
    /// A group address takes its department's locale.
    pub fn locale_of(&self, addr: &str) -> &str {
        if let Some(d) = self.dept_by_group(addr) {
            return &d.locale;
        }
        self.depts_of(addr)
            .next()
            .map(|d| d.locale.as_str())
            .unwrap_or(&self.default_locale)
    }

    /// Is this address a member of (or the group itself) among `list`?
    /// Used to avoid sending someone a copy they already get through a group.
    pub fn reached_by(&self, addr: &str, list: &[Mailbox]) -> bool {
        list.iter().any(|m| {
            m.address == addr || self.dept_by_group(&m.address).is_some_and(|d| d.has(addr))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Directory {
        let mb = |s: &str| Mailbox::parse(s).unwrap();
        Directory::new(
            vec![
                Department {
                    id: "sales".into(),
                    name: "销售部".into(),
                    aliases: vec!["Sales".into(), "销售".into()],
                    group: mb("sales@corp.example"),
                    leads: vec![mb("李娜 <lina@corp.example>")],
                    members: vec![mb("赵六 <zhaoliu@corp.example>"), mb("carol@corp.example")],
                    locale: "zh-CN".into(),
                },
                Department {
                    id: "rd".into(),
                    name: "研发部".into(),
                    aliases: vec!["R&D".into(), "研发".into()],
                    group: mb("rd@corp.example"),
                    leads: vec![mb("王磊 <wanglei@corp.example>")],
                    members: vec![mb("张三 <zhangsan@corp.example>"), mb("alice@corp.example")],
                    locale: "zh-CN".into(),
                },
                Department {
                    id: "ops".into(),
                    name: "Operations".into(),
                    aliases: vec!["运维".into()],
                    group: mb("ops@corp.example"),
                    leads: vec![mb("Dave Lee <dave@corp.example>")],
                    members: vec![mb("Bob Smith <bob@corp.example>")],
                    locale: "en".into(),
                },
            ],
            "zh-CN",
        )
    }

    #[test]
    fn departments_resolve_by_id_name_alias() {
        let d = sample();
        assert_eq!(d.resolve_dept("R&D").unwrap().id, "rd");
        assert_eq!(d.resolve_dept("研发部").unwrap().id, "rd");
        assert_eq!(d.resolve_dept("OPS").unwrap().id, "ops");
        assert!(d.resolve_dept("finance").is_none());
    }

    #[test]
    fn people_resolve_by_name_address_and_local_part() {
        let d = sample();
        assert_eq!(
            d.resolve_person("张三").unwrap().address,
            "zhangsan@corp.example"
        );
        assert_eq!(
            d.resolve_person("alice").unwrap().address,
            "alice@corp.example"
        );
        assert_eq!(
            d.resolve_person("Bob <BOB@corp.example>")
                .unwrap()
                .name
                .as_deref(),
            Some("Bob Smith")
        );
        assert!(d.resolve_person("mallory@evil.example").is_none());
        assert!(d.resolve_person("无名").is_none());
    }

    #[test]
    fn leads_are_members_and_act_for_their_members() {
        let d = sample();
        assert!(d.is_member("wanglei@corp.example", "rd"));
        assert!(d.leads_person("wanglei@corp.example", "zhangsan@corp.example"));
        assert!(!d.leads_person("wanglei@corp.example", "bob@corp.example"));
        assert_eq!(d.locale_of("bob@corp.example"), "en");
        assert_eq!(d.locale_of("rd@corp.example"), "zh-CN");
        assert_eq!(d.locale_of("stranger@x.example"), "zh-CN");
    }
}
