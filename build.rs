//! The built-in `names.toml` of each locale, turned into JSON here, once:
//! every process that renders reads a locale's names, and JSON reads about
//! ten times faster than TOML (what a site's own `names.toml` is still
//! read as).

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    for locale in ["zh-CN", "en"] {
        let path = format!("templates/{locale}/names.toml");
        println!("cargo::rerun-if-changed={path}");
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let names: serde_json::Value =
            toml::from_str(&src).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::fs::write(
            out.join(format!("names.{locale}.json")),
            serde_json::to_string(&names).expect("JSON"),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    }
}
