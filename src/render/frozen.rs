//! Compiled templates kept as bytes: the built-in templates are compiled
//! when crossdesk is built (build.rs includes this file) and stored in
//! this form, so a process that renders a mail rebuilds the compiled
//! template from it instead of running handlebars' parser, which was most
//! of a one-mail process's time.
//!
//! handlebars has no serialized form of its compiled templates; this is
//! one, for the elements its parser produces: each element a tag byte and
//! its parts, strings as their length and UTF-8 bytes, numbers as LEB128.
//! [`freeze`] refuses anything it does not know and anything that does
//! not [`thaw`] back to an equal template, so what is stored is exactly
//! what compiling gives (checked again by the render tests against a
//! fresh compile).

// `freeze` is build.rs's (and the tests'); a running crossdesk only thaws.
#![cfg_attr(not(test), allow(dead_code))]

use handlebars::template::{
    BlockParam, DecoratorTemplate, DecoratorTemplateBuilder, HelperTemplate, HelperTemplateBuilder,
    Parameter, Subexpression, TemplateElement, TemplateMapping,
};
use handlebars::{Path, PathSeg, Template};
use std::collections::HashMap;
use std::sync::OnceLock;

/// `t` in stored form, or what in it cannot be stored.
pub fn freeze(t: &Template) -> Result<Vec<u8>, String> {
    let mut w = Vec::new();
    put_tpl(&mut w, t)?;
    if thaw(&w)? == *t {
        Ok(w)
    } else {
        Err("does not rebuild to the same template".into())
    }
}

/// The template stored by [`freeze`].
pub fn thaw(bytes: &[u8]) -> Result<Template, String> {
    let mut r = Reader { b: bytes, at: 0 };
    let t = r.tpl()?;
    match r.at == bytes.len() {
        true => Ok(t),
        false => Err("bytes left after the template".into()),
    }
}

// Element tags.
const RAW: u8 = 0;
const HTML: u8 = 1;
const EXPR: u8 = 2;
const BLOCK: u8 = 3;
const DEC_EXPR: u8 = 4;
const DEC_BLOCK: u8 = 5;
const PART_EXPR: u8 = 6;
const PART_BLOCK: u8 = 7;
const COMMENT: u8 = 8;

// Parameter tags.
const NAME: u8 = 0;
/// A path of plain names: the segments and the path as written.
const NAMES: u8 = 1;
/// Any other relative path (`../a`, `@root.b`), parsed again.
const PARSE: u8 = 2;
const LOCAL: u8 = 3;
const STRING: u8 = 4;
/// Any other literal, as JSON.
const JSON: u8 = 5;
const SUB: u8 = 6;

// Helper and decorator flags.
const F_BLOCK: u8 = 1;
const F_CHAIN: u8 = 2;
const F_INDENT_BEFORE_WRITE: u8 = 4;

fn put_n(w: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        w.push((n as u8) | 0x80);
        n >>= 7;
    }
    w.push(n as u8);
}

fn put_s(w: &mut Vec<u8>, s: &str) {
    put_n(w, s.len());
    w.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(
    w: &mut Vec<u8>,
    v: Option<&T>,
    put: impl Fn(&mut Vec<u8>, &T) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        None => w.push(0),
        Some(v) => {
            w.push(1);
            put(w, v)?;
        }
    }
    Ok(())
}

fn put_tpl(w: &mut Vec<u8>, t: &Template) -> Result<(), String> {
    put_opt(w, t.name.as_ref(), |w, n| {
        put_s(w, n);
        Ok(())
    })?;
    put_n(w, t.elements.len());
    for e in &t.elements {
        put_el(w, e)?;
    }
    put_n(w, t.mapping.len());
    for m in &t.mapping {
        put_n(w, m.0);
        put_n(w, m.1);
    }
    Ok(())
}

fn put_el(w: &mut Vec<u8>, e: &TemplateElement) -> Result<(), String> {
    match e {
        TemplateElement::RawString(s) => {
            w.push(RAW);
            put_s(w, s);
        }
        TemplateElement::Comment(s) => {
            w.push(COMMENT);
            put_s(w, s);
        }
        TemplateElement::HtmlExpression(h) => put_helper(w, HTML, h)?,
        TemplateElement::Expression(h) => put_helper(w, EXPR, h)?,
        TemplateElement::HelperBlock(h) => put_helper(w, BLOCK, h)?,
        TemplateElement::DecoratorExpression(d) => put_decorator(w, DEC_EXPR, d)?,
        TemplateElement::DecoratorBlock(d) => put_decorator(w, DEC_BLOCK, d)?,
        TemplateElement::PartialExpression(d) => put_decorator(w, PART_EXPR, d)?,
        TemplateElement::PartialBlock(d) => put_decorator(w, PART_BLOCK, d)?,
        other => return Err(format!("unknown element {other:?}")),
    }
    Ok(())
}

/// Appends element `one` (its tag, its parts, its flags byte last, without
/// `F_INDENT_BEFORE_WRITE`) to `w`. `indent_before_write` cannot be read
/// from outside handlebars: the value that rebuilds an element equal to
/// `original` (read back by `read`) is the one it has.
fn put_flagged<T: PartialEq>(
    w: &mut Vec<u8>,
    mut one: Vec<u8>,
    original: &T,
    read: impl Fn(&mut Reader<'_>) -> Result<T, String>,
) -> Result<(), String> {
    let mut r = Reader {
        b: &one[1..],
        at: 0,
    };
    if read(&mut r)? != *original {
        *one.last_mut().expect("flags") |= F_INDENT_BEFORE_WRITE;
    }
    w.extend_from_slice(&one);
    Ok(())
}

fn put_helper(w: &mut Vec<u8>, tag: u8, h: &HelperTemplate) -> Result<(), String> {
    let mut one = vec![tag];
    put_param(&mut one, &h.name)?;
    put_params(&mut one, &h.params, &h.hash)?;
    put_opt(&mut one, h.block_param.as_ref(), |w, bp| match bp {
        BlockParam::Single(p) => {
            w.push(0);
            put_param(w, p)
        }
        BlockParam::Pair((a, b)) => {
            w.push(1);
            put_param(w, a)?;
            put_param(w, b)
        }
        other => Err(format!("unknown block parameter {other:?}")),
    })?;
    put_opt(&mut one, h.template.as_ref(), put_tpl)?;
    put_opt(&mut one, h.inverse.as_ref(), put_tpl)?;
    let flags = if h.block { F_BLOCK } else { 0 } | if h.chain { F_CHAIN } else { 0 };
    one.push(flags);
    put_flagged(w, one, h, |r| r.helper())
}

fn put_decorator(w: &mut Vec<u8>, tag: u8, d: &DecoratorTemplate) -> Result<(), String> {
    let mut one = vec![tag];
    put_param(&mut one, &d.name)?;
    put_params(&mut one, &d.params, &d.hash)?;
    put_opt(&mut one, d.template.as_ref(), put_tpl)?;
    put_opt(&mut one, d.indent.as_ref(), |w, s| {
        put_s(w, s);
        Ok(())
    })?;
    one.push(0);
    put_flagged(w, one, d, |r| r.decorator())
}

fn put_params(
    w: &mut Vec<u8>,
    params: &[Parameter],
    hash: &HashMap<String, Parameter>,
) -> Result<(), String> {
    put_n(w, params.len());
    for p in params {
        put_param(w, p)?;
    }
    let mut keys: Vec<&String> = hash.keys().collect();
    keys.sort();
    put_n(w, keys.len());
    for k in keys {
        put_s(w, k);
        put_param(w, &hash[k])?;
    }
    Ok(())
}

fn put_param(w: &mut Vec<u8>, p: &Parameter) -> Result<(), String> {
    match p {
        Parameter::Name(n) => {
            w.push(NAME);
            put_s(w, n);
        }
        Parameter::Path(Path::Local((level, name, raw))) => {
            w.push(LOCAL);
            put_n(w, *level);
            put_s(w, name);
            put_s(w, raw);
        }
        Parameter::Path(Path::Relative((segs, raw))) => {
            let names = segs
                .iter()
                .map(|s| match s {
                    PathSeg::Named(n) => Some(n.as_str()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            match names {
                Some(names) => {
                    w.push(NAMES);
                    put_n(w, names.len());
                    for n in names {
                        put_s(w, n);
                    }
                }
                None => w.push(PARSE),
            }
            put_s(w, raw);
        }
        Parameter::Literal(serde_json::Value::String(s)) => {
            w.push(STRING);
            put_s(w, s);
        }
        Parameter::Literal(v) => {
            w.push(JSON);
            put_s(w, &v.to_string());
        }
        Parameter::Subexpression(s) => {
            w.push(SUB);
            put_el(w, &s.element)?;
        }
        other => return Err(format!("unknown parameter {other:?}")),
    }
    Ok(())
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

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

const SHORT: &str = "stored template cut short";

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.b.get(self.at).ok_or(SHORT)?;
        self.at += 1;
        Ok(b)
    }

    fn n(&mut self) -> Result<usize, String> {
        let (mut n, mut shift) = (0usize, 0);
        loop {
            let b = self.byte()?;
            if shift >= usize::BITS {
                return Err("stored number too large".into());
            }
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
            shift += 7;
        }
    }

    fn s(&mut self) -> Result<String, String> {
        let len = self.n()?;
        let end = self.at.checked_add(len).ok_or(SHORT)?;
        let bytes = self.b.get(self.at..end).ok_or(SHORT)?;
        self.at = end;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| e.to_string())
    }

    fn opt<T>(
        &mut self,
        read: impl Fn(&mut Self) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            b => Err(format!("stored option {b}")),
        }
    }

    fn tpl(&mut self) -> Result<Template, String> {
        let mut t = Template::default();
        t.name = self.opt(Self::s)?;
        let n = self.n()?;
        t.elements = (0..n).map(|_| self.el()).collect::<Result<_, _>>()?;
        let n = self.n()?;
        t.mapping = (0..n)
            .map(|_| mapping(self.n()?, self.n()?))
            .collect::<Result<_, _>>()?;
        Ok(t)
    }

    fn el(&mut self) -> Result<TemplateElement, String> {
        Ok(match self.byte()? {
            RAW => TemplateElement::RawString(self.s()?),
            COMMENT => TemplateElement::Comment(self.s()?),
            HTML => TemplateElement::HtmlExpression(Box::new(self.helper()?)),
            EXPR => TemplateElement::Expression(Box::new(self.helper()?)),
            BLOCK => TemplateElement::HelperBlock(Box::new(self.helper()?)),
            DEC_EXPR => TemplateElement::DecoratorExpression(Box::new(self.decorator()?)),
            DEC_BLOCK => TemplateElement::DecoratorBlock(Box::new(self.decorator()?)),
            PART_EXPR => TemplateElement::PartialExpression(Box::new(self.decorator()?)),
            PART_BLOCK => TemplateElement::PartialBlock(Box::new(self.decorator()?)),
            b => return Err(format!("stored element {b}")),
        })
    }

    fn helper(&mut self) -> Result<HelperTemplate, String> {
        let name = self.param()?;
        let (params, hash) = self.params()?;
        let block_param = self.opt(|r| match r.byte()? {
            0 => Ok(BlockParam::Single(r.param()?)),
            1 => Ok(BlockParam::Pair((r.param()?, r.param()?))),
            b => Err(format!("stored block parameter {b}")),
        })?;
        let template = self.opt(Self::tpl)?;
        let inverse = self.opt(Self::tpl)?;
        let flags = self.byte()?;
        let mut h = HelperTemplateBuilder::default()
            .name(name)
            .params(params)
            .hash(hash)
            .block(flags & F_BLOCK != 0)
            .chain(flags & F_CHAIN != 0)
            .indent_before_write(flags & F_INDENT_BEFORE_WRITE != 0)
            .build()
            .map_err(|e| e.to_string())?;
        (h.block_param, h.template, h.inverse) = (block_param, template, inverse);
        Ok(h)
    }

    fn decorator(&mut self) -> Result<DecoratorTemplate, String> {
        let name = self.param()?;
        let (params, hash) = self.params()?;
        let template = self.opt(Self::tpl)?;
        let indent = self.opt(Self::s)?;
        let flags = self.byte()?;
        let mut d = DecoratorTemplateBuilder::default()
            .name(name)
            .params(params)
            .hash(hash)
            .indent_before_write(flags & F_INDENT_BEFORE_WRITE != 0)
            .build()
            .map_err(|e| e.to_string())?;
        (d.template, d.indent) = (template, indent);
        Ok(d)
    }

    #[allow(clippy::type_complexity)]
    fn params(&mut self) -> Result<(Vec<Parameter>, HashMap<String, Parameter>), String> {
        let n = self.n()?;
        let params = (0..n).map(|_| self.param()).collect::<Result<_, _>>()?;
        let n = self.n()?;
        let hash = (0..n)
            .map(|_| Ok((self.s()?, self.param()?)))
            .collect::<Result<_, String>>()?;
        Ok((params, hash))
    }

    fn param(&mut self) -> Result<Parameter, String> {
        Ok(match self.byte()? {
            NAME => Parameter::Name(self.s()?),
            NAMES => {
                let n = self.n()?;
                let segs = (0..n)
                    .map(|_| self.s().map(PathSeg::Named))
                    .collect::<Result<_, _>>()?;
                Parameter::Path(Path::Relative((segs, self.s()?)))
            }
            PARSE => Parameter::Path(Path::parse(&self.s()?).map_err(|e| e.to_string())?),
            LOCAL => Parameter::Path(Path::Local((self.n()?, self.s()?, self.s()?))),
            STRING => Parameter::Literal(serde_json::Value::String(self.s()?)),
            JSON => {
                Parameter::Literal(serde_json::from_str(&self.s()?).map_err(|e| e.to_string())?)
            }
            SUB => {
                let mut s =
                    Subexpression::new(Parameter::Name(String::new()), vec![], HashMap::new());
                *s.element = self.el()?;
                Parameter::Subexpression(s)
            }
            b => return Err(format!("stored parameter {b}")),
        })
    }
}
