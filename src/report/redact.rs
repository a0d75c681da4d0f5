//! Secrets (SSH and become passwords, `no_log` values) replaced by `********` in
//! everything rtmig writes: terminal, logs, journal, JSON.

use std::borrow::Cow;

pub const MASK: &str = "********";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Remember a secret. Very short values are ignored: masking every `a` would make
    /// logs unreadable and protect nothing.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.secrets.iter().all(|s| !text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
    }

    /// Redact every string inside a JSON value.
    pub fn redact_value(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.redact(s).into_owned()),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.redact_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let mut r = Redactor::new();
        r.add("hunter2");
        r.add("hunter2-extended");
        assert_eq!(
            r.redact("a hunter2-extended b hunter2"),
            "a ******** b ********"
        );
        assert_eq!(r.redact("clean"), "clean");
    }

    #[test]
    fn masks_inside_json() {
        let mut r = Redactor::new();
        r.add("s3cret");
        let v = serde_json::json!({"stdout": "pw=s3cret", "n": 1, "l": ["s3cret"]});
        assert_eq!(
            r.redact_value(&v),
            serde_json::json!({"stdout": "pw=********", "n": 1, "l": ["********"]})
        );
    }
}
