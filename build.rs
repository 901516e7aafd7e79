//! The built-in templates, prepared once here instead of in every process
//! that renders (`OUT_DIR/builtin.rs`, included by `src/render/load.rs`):
//!
//! - each locale's `names.toml` as JSON (JSON reads about ten times faster
//!   than TOML, what a site's own `names.toml` is still read as);
//! - each template file split into its sections;
//! - each section compiled, in the stored form of `src/render/frozen.rs`:
//!   a process rebuilds a compiled template from it instead of running
//!   handlebars' parser (a site's own templates are still compiled when
//!   first used).

#[path = "src/render/frozen.rs"]
mod frozen;
#[path = "src/render/sections.rs"]
mod sections;

use std::fmt::Write as _;
use std::path::Path;

const LOCALES: [&str; 2] = ["zh-CN", "en"];

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo::rerun-if-changed=src/render/frozen.rs");
    println!("cargo::rerun-if-changed=src/render/sections.rs");
    let mut code = String::from(
        "/// The built-in templates of each locale, split and compiled (build.rs).\n\
         pub(super) const BUILTIN: &[BuiltinLocale] = &[\n",
    );
    for locale in LOCALES {
        let path = format!("templates/{locale}/names.toml");
        println!("cargo::rerun-if-changed={path}");
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let names: serde_json::Value =
            toml::from_str(&src).unwrap_or_else(|e| panic!("{path}: {e}"));
        let names = serde_json::to_string(&names).expect("JSON");
        let files = builtin_files(locale);
        // Every stored template of the locale in one file, each file's
        // sections at (start, end) in it.
        let mut blob = Vec::new();
        let mut at = |f: &Option<Vec<u8>>| {
            f.as_ref().map(|bytes| {
                let start = blob.len();
                blob.extend_from_slice(bytes);
                (start, blob.len())
            })
        };
        let frozen: Vec<[Option<(usize, usize)>; 3]> = files
            .iter()
            .map(|f| [at(&f.frozen[0]), at(&f.frozen[1]), at(&f.frozen[2])])
            .collect();
        let bin = out.join(format!("frozen.{locale}.bin"));
        std::fs::write(&bin, &blob).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let _ = writeln!(
            code,
            "    BuiltinLocale {{\n        locale: {locale:?},\n        names: {names:?},\n        \
             frozen: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/frozen.{locale}.bin\")),\n        \
             files: &["
        );
        for (f, frozen) in files.iter().zip(frozen) {
            let _ = writeln!(
                code,
                "            BuiltinFile {{ file: {:?}, label: {:?}, sections: {:?}, frozen: {:?} }},",
                f.file, f.label, f.sections, frozen
            );
        }
        code.push_str("        ],\n    },\n");
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtin.rs"), code)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// A template file as built in: its sections (subject, text, html) and
/// each compiled and stored, `None` where it has no such section (or, with
/// a warning, where it could not be stored: it is then compiled when first
/// used).
struct Builtin {
    file: String,
    label: String,
    sections: [Option<String>; 3],
    frozen: [Option<Vec<u8>>; 3],
}

/// Every template file of `locale` (`*.hbs` and `im/*.hbs`), sorted, each
/// section compiled as the renderer compiles it (a registry that does not
/// indent partials, the name it registers it under: `_x` for partial
/// `_x.hbs`, `k.text` for template `k.hbs`). A built-in template that
/// does not compile fails the build.
fn builtin_files(locale: &str) -> Vec<Builtin> {
    let dir = format!("templates/{locale}");
    println!("cargo::rerun-if-changed={dir}");
    let mut files = Vec::new();
    for sub in ["", "im/"] {
        let d = format!("{dir}/{sub}");
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{d}: {e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{d}: {e}")).path();
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if file.ends_with(".hbs") {
                files.push((format!("{sub}{file}"), path.clone()));
            }
        }
    }
    files.sort();
    let mut reg = handlebars::Handlebars::new();
    reg.set_prevent_indent(true);
    let mut built = Vec::new();
    for (file, path) in files {
        let stem = file.trim_end_matches(".hbs").to_string();
        let src = read(&path);
        let sec = sections::split(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sections = [sec.subject, sec.text, sec.html];
        let mut frozen = [None, None, None];
        for (i, part) in ["subject", "text", "html"].into_iter().enumerate() {
            let partial = stem.starts_with('_');
            // (a partial without a text or html section has it empty)
            let body = match &sections[i] {
                _ if partial && part == "subject" => continue,
                Some(body) => body.as_str(),
                None if partial => "",
                None => continue,
            };
            let name = match partial {
                true => stem.clone(),
                false => format!("{stem}.{part}"),
            };
            reg.register_template_string(&name, body)
                .unwrap_or_else(|e| panic!("{} ({part}): {e}", path.display()));
            let t = reg.get_template(&name).expect("registered");
            match frozen::freeze(t) {
                Ok(f) => frozen[i] = Some(f),
                Err(e) => println!(
                    "cargo::warning={} ({part}) not stored compiled: {e}",
                    path.display()
                ),
            }
            reg.unregister_template(&name);
        }
        built.push(Builtin {
            label: format!("templates/{locale}/{file} (built-in)"),
            file,
            sections,
            frozen,
        });
    }
    built
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
