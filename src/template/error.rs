//! [`TemplateError`]: what went wrong in a template or expression, where (the file or
//! the kind of string, and the line), and the real cause found by walking
//! minijinja's `source()` chain (an error inside an included template names the
//! including template at the top; the real file and line are further down).

use std::fmt;
use std::path::PathBuf;

/// What was being rendered or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A template string, e.g. a task argument.
    String,
    /// A bare expression (`when`, `that`, `debug: var`), given in full.
    Expression(String),
    /// A template file, by its resolved path (or the name asked for, if not found).
    File(PathBuf),
}

/// The broad kind of failure, for callers that treat some specially (e.g. `debug:
/// var:` prints "VARIABLE IS NOT DEFINED!" for [`Undefined`](Self::Undefined)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template or expression does not parse.
    Syntax,
    /// An undefined variable was printed, iterated, compared or tested for truth.
    Undefined,
    /// A template file (or an included one) was not found in the search dirs.
    NotFound,
    /// A condition gave a value that is not a boolean (e.g. the string `"maybe"`).
    NotBoolean,
    /// Anything else while rendering: a filter failed, a bad operation, ...
    Render,
}

/// One template in an include chain: its display name and the line in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub name: String,
    pub line: Option<usize>,
}

/// A template or expression failed to parse or to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    kind: TemplateErrorKind,
    origin: Origin,
    /// Line in the template or expression that was rendered (the outermost one).
    line: Option<usize>,
    /// Included templates down to the one that failed, outermost first.
    included: Vec<Frame>,
    message: String,
}

impl std::error::Error for TemplateError {}

impl TemplateError {
    pub(crate) fn new(kind: TemplateErrorKind, origin: Origin, message: impl Into<String>) -> Self {
        TemplateError {
            kind,
            origin,
            line: None,
            included: Vec::new(),
            message: message.into(),
        }
    }

    /// Turns a minijinja error into ours. `display_name` maps minijinja's template
    /// names (internal ids for strings, search-dir-relative names for files) to
    /// what the user knows them by, or `None` for the template being rendered.
    pub(crate) fn from_minijinja(
        err: &minijinja::Error,
        origin: Origin,
        display_name: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut frames: Vec<(&minijinja::Error, Option<String>)> = Vec::new();
        let mut causes: Vec<String> = Vec::new();
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = current {
            match e.downcast_ref::<minijinja::Error>() {
                Some(mj) => frames.push((mj, mj.name().and_then(&display_name))),
                None => causes.push(e.to_string()),
            }
            current = e.source();
        }
        // The innermost minijinja error says what went wrong; the outer ones where
        // (the `BadInclude` wrappers only say "error in <name>").
        let innermost = frames.last().map(|(e, _)| *e).unwrap_or(err);
        let mut message = describe(innermost);
        for cause in causes {
            if !message.contains(&cause) {
                message.push_str(": ");
                message.push_str(&cause);
            }
        }
        let line = frames.first().and_then(|(e, _)| e.line());
        // Each frame whose template differs from its parent's is an include level.
        let mut included = Vec::new();
        let mut last_name = frames.first().and_then(|(e, _)| e.name());
        for (e, shown) in frames.iter().skip(1) {
            if e.name().is_some() && e.name() != last_name {
                included.push(Frame {
                    name: shown
                        .clone()
                        .unwrap_or_else(|| e.name().unwrap_or("?").to_string()),
                    line: e.line(),
                });
                last_name = e.name();
            }
        }
        TemplateError {
            kind: kind_of(innermost.kind()),
            origin,
            line,
            included,
            message,
        }
    }

    /// A copy of this error at another line of its origin.
    pub(crate) fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// A copy of this error with another origin (e.g. to say which expression).
    pub(crate) fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    pub fn kind(&self) -> TemplateErrorKind {
        self.kind
    }

    pub fn is_undefined(&self) -> bool {
        self.kind == TemplateErrorKind::Undefined
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The 1-based line within the template source or expression that was rendered
    /// (for a string from YAML, add it to the string's own line). For an error
    /// inside an included template, the line of the `include`.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// Included templates down to the one that failed, outermost first.
    pub fn included(&self) -> &[Frame] {
        &self.included
    }

    /// The cause alone, without where: e.g. "`foo` is undefined".
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TemplateError {
    /// `templates/a.j2:3: ...`, `template string, line 2: ...`, or
    /// ``expression `x > 1`: ...``; an error in an included template names the
    /// included file and line first, then where it was included from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let here = match (&self.origin, self.line) {
            (Origin::File(path), Some(line)) => format!("{}:{line}", path.display()),
            (Origin::File(path), None) => path.display().to_string(),
            (Origin::String, Some(line)) if line > 1 || !self.included.is_empty() => {
                format!("template string, line {line}")
            }
            (Origin::String, _) => "template string".to_string(),
            (Origin::Expression(expr), _) => format!("expression `{}`", expr.trim()),
        };
        match self.included.split_last() {
            None => write!(f, "{here}: {}", self.message),
            Some((inner, outer)) => {
                write!(f, "{}", inner.name)?;
                if let Some(line) = inner.line {
                    write!(f, ":{line}")?;
                }
                write!(f, ": {} (included from ", self.message)?;
                for frame in outer.iter().rev() {
                    write!(f, "{}", frame.name)?;
                    if let Some(line) = frame.line {
                        write!(f, ":{line}")?;
                    }
                    write!(f, ", included from ")?;
                }
                write!(f, "{here})")
            }
        }
    }
}

fn kind_of(kind: minijinja::ErrorKind) -> TemplateErrorKind {
    use minijinja::ErrorKind as K;
    match kind {
        K::SyntaxError | K::BadEscape | K::InvalidDelimiter => TemplateErrorKind::Syntax,
        K::UndefinedError => TemplateErrorKind::Undefined,
        K::TemplateNotFound => TemplateErrorKind::NotFound,
        _ => TemplateErrorKind::Render,
    }
}

/// "`foo` is undefined", "syntax error: unexpected `}}`", "unknown filter: ...".
fn describe(err: &minijinja::Error) -> String {
    use minijinja::ErrorKind as K;
    match (err.kind(), err.detail()) {
        (K::UndefinedError, Some(detail)) => detail.to_string(),
        (K::UndefinedError, None) => "undefined variable".to_string(),
        // Our own filters report "`quote` expects a string, got a map" as is.
        (K::InvalidOperation, Some(detail)) => detail.to_string(),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    }
}
