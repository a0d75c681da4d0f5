//! The variables a template string or expression reads that nothing declares, for
//! `rtmig validate`'s undefined-variable check: minijinja's static
//! `undeclared_variables` without the environment's globals (`range`, `lookup`,
//! `omit`, ...), and the names a string guards itself against (`x | default(..)`,
//! `x | d(..)`, `x is defined`, `x is not defined`, `x is undefined`, `x is none`).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::Templates;
use super::native::is_template;
use super::percent;

/// A name, an optional attribute or index chain, then a guard.
static GUARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_]+|\[[^\]]*\])*\s*(?:\|\s*(?:default|d)\b|is\s+(?:not\s+)?(?:defined|undefined|none)\b)"#,
    )
    .expect("static regex")
});

/// `{% set a = .. %}`, `{% set a, b = .. %}` and `{% for a, b in .. %}` anywhere: minijinja's
/// analysis scopes a `set` inside `{% if %}` to that block, where Jinja keeps it for
/// the rest of the template.
static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\{%[-+]?\s*(?:set|for)\s+([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)",
    )
    .expect("static regex")
});

fn assigned(source: &str) -> HashSet<String> {
    ASSIGNED
        .captures_iter(source)
        .flat_map(|c| {
            c[1].split(',')
                .map(|n| n.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Templates {
    /// The top-level names `source` reads that it does not set itself, globals left
    /// out; `expr` says whether `source` is a bare expression (`when:`) or a template
    /// string. Empty for text without template syntax and for what does not parse
    /// (the syntax check reports that).
    pub fn undeclared(&self, source: &str, expr: bool) -> Vec<String> {
        let env = &self.engine.env;
        // As rendered: Python's `%` on strings rewritten first (see `percent`).
        let names: HashSet<String> = if expr {
            match env.compile_expression(&percent::rewrite(source, true)) {
                Ok(e) => e.undeclared_variables(false),
                Err(_) => HashSet::new(),
            }
        } else if is_template(source) {
            match env.template_from_str(&percent::rewrite(source, false)) {
                Ok(t) => t.undeclared_variables(false),
                Err(_) => HashSet::new(),
            }
        } else {
            HashSet::new()
        };
        let globals: HashSet<&str> = env.globals().map(|(k, _)| k).collect();
        let set_here = if expr {
            HashSet::new()
        } else {
            assigned(source)
        };
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| {
                // `__rtmig_*`: names of rtmig's own rewrites (`percent`'s default chains).
                !globals.contains(n.as_str())
                    && n != "loop"
                    && !n.starts_with("__rtmig")
                    && !set_here.contains(n)
            })
            .collect();
        out.sort();
        out
    }
}

/// The names `source` guards (`x | default(..)`, `x.y is defined`, ...): reading
/// them when no source defines them is what the string expects.
pub fn guarded(source: &str) -> HashSet<String> {
    GUARD
        .captures_iter(source)
        .map(|c| c[1].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_and_not_set_without_globals() {
        let t = Templates::new(Vec::new());
        assert_eq!(
            t.undeclared(
                "{% set a = 1 %}{{ a }} {{ b.c }} {{ range(3) | list }} {{ omit }}",
                false
            ),
            ["b"]
        );
        assert_eq!(t.undeclared("x == 1 and y is defined", true), ["x", "y"]);
        assert_eq!(
            t.undeclared(
                "{% for i in items %}{{ loop.index }}{{ i }}{% endfor %}",
                false
            ),
            ["items"]
        );
        assert!(t.undeclared("plain text", false).is_empty());
        assert_eq!(t.undeclared("{{ '%03d' % n }}", false), ["n"]);
        // A default chain (rewritten with an internal name) reads only its parent.
        assert_eq!(t.undeclared("{{ a.b.c | default(1) }}", false), ["a"]);
        assert_eq!(t.undeclared("'%s-%s' % (a, b) == c", true), ["a", "b", "c"]);
        // Jinja keeps a `set` inside `if` for the rest of the template.
        assert_eq!(
            t.undeclared(
                "{% if c %}{% set a, b = 1, 2 %}{% endif %}{{ a }}{{ b }}",
                false
            ),
            ["c"]
        );
        assert!(t.undeclared("{{ broken", false).is_empty());
    }

    #[test]
    fn guards_are_recognised() {
        let g = guarded(
            "{{ a | default(1) }} {{ b.c|d('') }} {{ 'x' if e['k'] is defined }} {{ f is not defined }} {{ h | upper }}",
        );
        for name in ["a", "b", "e", "f"] {
            assert!(g.contains(name), "{name}: {g:?}");
        }
        assert!(!g.contains("h"));
        assert!(guarded("x is undefined or y is none").contains("y"));
    }
}
