//! Small words with one meaning across the crate: Ansible's boolean words and a count
//! with the noun that agrees with it. A leaf: it uses nothing of the crate.

/// Ansible's boolean words (`module_utils.parsing.convert_bool`): `yes`/`y`/`true`/
/// `t`/`on`/`1` and `no`/`n`/`false`/`f`/`off`/`0`, in any case, around spaces. `None`
/// for any other word (the empty one too).
pub fn boolean(word: &str) -> Option<bool> {
    match word.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// "1 host", "2 hosts": a count with the word that agrees with it.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_words_are_ansibles() {
        for yes in ["yes", "Yes", "y", "on", "TRUE", "t", "1", " true "] {
            assert_eq!(boolean(yes), Some(true), "{yes}");
        }
        for no in ["no", "N", "off", "False", "f", "0"] {
            assert_eq!(boolean(no), Some(false), "{no}");
        }
        for neither in ["", "maybe", "2", "yess"] {
            assert_eq!(boolean(neither), None, "{neither}");
        }
    }

    #[test]
    fn plural_agrees_with_the_count() {
        assert_eq!(plural(0, "host", "hosts"), "0 hosts");
        assert_eq!(plural(1, "host", "hosts"), "1 host");
        assert_eq!(plural(2, "batch", "batches"), "2 batches");
    }
}
