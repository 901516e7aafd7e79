//! Compiled templates kept as data: the built-in templates are compiled
//! when crossdesk is built (build.rs includes this file) and stored in
//! this form, so a process that renders a mail rebuilds the compiled
//! template from it instead of running handlebars' parser, which is most
//! of a one-mail process's time.
//!
//! handlebars has no serialized form of its compiled templates; this is
//! one, for the elements the parser produces. [`freeze`] refuses anything
//! it does not know and anything that does not [`thaw`] back to an equal
//! template, so what is stored is exactly what compiling gives (checked
//! again by the render tests against a fresh compile).

// `freeze` is build.rs's (and the tests'); a running crossdesk only thaws.
#![cfg_attr(not(test), allow(dead_code))]

use handlebars::template::{
    BlockParam, DecoratorTemplate, DecoratorTemplateBuilder, HelperTemplate, HelperTemplateBuilder,
    Parameter, Subexpression, TemplateElement, TemplateMapping,
};
use handlebars::{Path, PathSeg, Template};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A compiled template.
#[derive(Serialize, Deserialize)]
pub struct Frozen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    e: Vec<El>,
    /// Each element's line and column.
    m: Vec<(usize, usize)>,
}

#[derive(Serialize, Deserialize)]
enum El {
    Raw(String),
    Html(Helper),
    Expr(Helper),
    Block(Helper),
    DecExpr(Decorator),
    DecBlock(Decorator),
    PartExpr(Decorator),
    PartBlock(Decorator),
    Comment(String),
}

#[derive(Serialize, Deserialize)]
struct Helper {
    name: Param,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hash: Vec<(String, Param)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bp: Option<Bp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<Frozen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inv: Option<Frozen>,
    #[serde(default)]
    block: bool,
    #[serde(default)]
    chain: bool,
    #[serde(default)]
    ibw: bool,
}

#[derive(Serialize, Deserialize)]
struct Decorator {
    name: Param,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hash: Vec<(String, Param)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<Frozen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    indent: Option<String>,
    #[serde(default)]
    ibw: bool,
}

#[derive(Serialize, Deserialize)]
enum Bp {
    Single(Param),
    Pair(Param, Param),
}

#[derive(Serialize, Deserialize)]
enum Param {
    Name(String),
    /// A path of plain names: the segments and the path as written.
    Names(Vec<String>, String),
    /// Any other relative path (`../a`, `@root.b`), parsed again.
    Parse(String),
    Local(usize, String, String),
    Literal(serde_json::Value),
    Sub(Box<El>),
}

/// `t` in stored form, or what in it cannot be stored.
pub fn freeze(t: &Template) -> Result<Frozen, String> {
    let f = freeze_tpl(t)?;
    if thaw_tpl(&f)? == *t {
        Ok(f)
    } else {
        Err("does not rebuild to the same template".into())
    }
}

/// The template stored as JSON by [`freeze`].
pub fn thaw(json: &str) -> Result<Template, String> {
    let f: Frozen = serde_json::from_str(json).map_err(|e| e.to_string())?;
    thaw_tpl(&f)
}

fn freeze_tpl(t: &Template) -> Result<Frozen, String> {
    Ok(Frozen {
        n: t.name.clone(),
        e: t.elements.iter().map(freeze_el).collect::<Result<_, _>>()?,
        m: t.mapping.iter().map(|m| (m.0, m.1)).collect(),
    })
}

fn freeze_el(e: &TemplateElement) -> Result<El, String> {
    Ok(match e {
        TemplateElement::RawString(s) => El::Raw(s.clone()),
        TemplateElement::Comment(s) => El::Comment(s.clone()),
        TemplateElement::HtmlExpression(h) => El::Html(freeze_helper(h)?),
        TemplateElement::Expression(h) => El::Expr(freeze_helper(h)?),
        TemplateElement::HelperBlock(h) => El::Block(freeze_helper(h)?),
        TemplateElement::DecoratorExpression(d) => El::DecExpr(freeze_decorator(d)?),
        TemplateElement::DecoratorBlock(d) => El::DecBlock(freeze_decorator(d)?),
        TemplateElement::PartialExpression(d) => El::PartExpr(freeze_decorator(d)?),
        TemplateElement::PartialBlock(d) => El::PartBlock(freeze_decorator(d)?),
        other => return Err(format!("unknown element {other:?}")),
    })
}

/// `indent_before_write` cannot be read from outside handlebars: the
/// value that rebuilds an equal element is the one it has.
fn freeze_helper(h: &HelperTemplate) -> Result<Helper, String> {
    let mut f = Helper {
        name: freeze_param(&h.name)?,
        params: h
            .params
            .iter()
            .map(freeze_param)
            .collect::<Result<_, _>>()?,
        hash: freeze_hash(&h.hash)?,
        bp: match &h.block_param {
            None => None,
            Some(BlockParam::Single(p)) => Some(Bp::Single(freeze_param(p)?)),
            Some(BlockParam::Pair((a, b))) => Some(Bp::Pair(freeze_param(a)?, freeze_param(b)?)),
            Some(other) => return Err(format!("unknown block parameter {other:?}")),
        },
        t: h.template.as_ref().map(freeze_tpl).transpose()?,
        inv: h.inverse.as_ref().map(freeze_tpl).transpose()?,
        block: h.block,
        chain: h.chain,
        ibw: false,
    };
    if thaw_helper(&f)? != *h {
        f.ibw = true;
    }
    Ok(f)
}

fn freeze_decorator(d: &DecoratorTemplate) -> Result<Decorator, String> {
    let mut f = Decorator {
        name: freeze_param(&d.name)?,
        params: d
            .params
            .iter()
            .map(freeze_param)
            .collect::<Result<_, _>>()?,
        hash: freeze_hash(&d.hash)?,
        t: d.template.as_ref().map(freeze_tpl).transpose()?,
        indent: d.indent.clone(),
        ibw: false,
    };
    if thaw_decorator(&f)? != *d {
        f.ibw = true;
    }
    Ok(f)
}

fn freeze_hash(h: &HashMap<String, Parameter>) -> Result<Vec<(String, Param)>, String> {
    let mut v = h
        .iter()
        .map(|(k, p)| Ok((k.clone(), freeze_param(p)?)))
        .collect::<Result<Vec<_>, String>>()?;
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn freeze_param(p: &Parameter) -> Result<Param, String> {
    Ok(match p {
        Parameter::Name(n) => Param::Name(n.clone()),
        Parameter::Path(Path::Local((level, name, raw))) => {
            Param::Local(*level, name.clone(), raw.clone())
        }
        Parameter::Path(Path::Relative((segs, raw))) => {
            let names = segs
                .iter()
                .map(|s| match s {
                    PathSeg::Named(n) => Some(n.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            match names {
                Some(names) => Param::Names(names, raw.clone()),
                None => Param::Parse(raw.clone()),
            }
        }
        Parameter::Literal(v) => Param::Literal(v.clone()),
        Parameter::Subexpression(s) => Param::Sub(Box::new(freeze_el(&s.element)?)),
        other => return Err(format!("unknown parameter {other:?}")),
    })
}

/// A line-and-column record to copy: handlebars makes them only by
/// compiling (it has no constructor), so one tiny template is compiled
/// once for it.
fn mapping(line: usize, col: usize) -> Result<TemplateMapping, String> {
    static ONE: OnceLock<Option<TemplateMapping>> = OnceLock::new();
    let mut m = ONE
        .get_or_init(|| {
            Template::compile("{{a}}")
                .ok()
                .and_then(|t| t.mapping.into_iter().next())
        })
        .clone()
        .ok_or("no line-and-column record")?;
    (m.0, m.1) = (line, col);
    Ok(m)
}

fn thaw_tpl(f: &Frozen) -> Result<Template, String> {
    let mut t = Template::default();
    t.name = f.n.clone();
    t.elements = f.e.iter().map(thaw_el).collect::<Result<_, _>>()?;
    t.mapping =
        f.m.iter()
            .map(|&(l, c)| mapping(l, c))
            .collect::<Result<_, _>>()?;
    Ok(t)
}

fn thaw_el(e: &El) -> Result<TemplateElement, String> {
    Ok(match e {
        El::Raw(s) => TemplateElement::RawString(s.clone()),
        El::Comment(s) => TemplateElement::Comment(s.clone()),
        El::Html(h) => TemplateElement::HtmlExpression(Box::new(thaw_helper(h)?)),
        El::Expr(h) => TemplateElement::Expression(Box::new(thaw_helper(h)?)),
        El::Block(h) => TemplateElement::HelperBlock(Box::new(thaw_helper(h)?)),
        El::DecExpr(d) => TemplateElement::DecoratorExpression(Box::new(thaw_decorator(d)?)),
        El::DecBlock(d) => TemplateElement::DecoratorBlock(Box::new(thaw_decorator(d)?)),
        El::PartExpr(d) => TemplateElement::PartialExpression(Box::new(thaw_decorator(d)?)),
        El::PartBlock(d) => TemplateElement::PartialBlock(Box::new(thaw_decorator(d)?)),
    })
}

fn thaw_helper(f: &Helper) -> Result<HelperTemplate, String> {
    let mut h = HelperTemplateBuilder::default()
        .name(thaw_param(&f.name)?)
        .params(f.params.iter().map(thaw_param).collect::<Result<_, _>>()?)
        .hash(thaw_hash(&f.hash)?)
        .block(f.block)
        .chain(f.chain)
        .indent_before_write(f.ibw)
        .build()
        .map_err(|e| e.to_string())?;
    h.block_param = match &f.bp {
        None => None,
        Some(Bp::Single(p)) => Some(BlockParam::Single(thaw_param(p)?)),
        Some(Bp::Pair(a, b)) => Some(BlockParam::Pair((thaw_param(a)?, thaw_param(b)?))),
    };
    h.template = f.t.as_ref().map(thaw_tpl).transpose()?;
    h.inverse = f.inv.as_ref().map(thaw_tpl).transpose()?;
    Ok(h)
}

fn thaw_decorator(f: &Decorator) -> Result<DecoratorTemplate, String> {
    let mut d = DecoratorTemplateBuilder::default()
        .name(thaw_param(&f.name)?)
        .params(f.params.iter().map(thaw_param).collect::<Result<_, _>>()?)
        .hash(thaw_hash(&f.hash)?)
        .indent_before_write(f.ibw)
        .build()
        .map_err(|e| e.to_string())?;
    d.template = f.t.as_ref().map(thaw_tpl).transpose()?;
    d.indent = f.indent.clone();
    Ok(d)
}

fn thaw_hash(h: &[(String, Param)]) -> Result<HashMap<String, Parameter>, String> {
    h.iter()
        .map(|(k, p)| Ok((k.clone(), thaw_param(p)?)))
        .collect()
}

fn thaw_param(p: &Param) -> Result<Parameter, String> {
    Ok(match p {
        Param::Name(n) => Parameter::Name(n.clone()),
        Param::Names(names, raw) => Parameter::Path(Path::Relative((
            names.iter().cloned().map(PathSeg::Named).collect(),
            raw.clone(),
        ))),
        Param::Parse(raw) => Parameter::Path(Path::parse(raw).map_err(|e| e.to_string())?),
        Param::Local(level, name, raw) => {
            Parameter::Path(Path::Local((*level, name.clone(), raw.clone())))
        }
        Param::Literal(v) => Parameter::Literal(v.clone()),
        Param::Sub(e) => {
            let mut s = Subexpression::new(Parameter::Name(String::new()), vec![], HashMap::new());
            *s.element = thaw_el(e)?;
            Parameter::Subexpression(s)
        }
    })
}
