//! Behaviour of the template environment as playbooks see it.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::*;

fn vars(value: Json) -> Vars {
    match value {
        Json::Object(map) => Vars::from(map),
        other => panic!("vars must be a map, got {other}"),
    }
}

fn templates() -> Templates {
    Templates::new(Vec::new())
}

fn render(source: &str, v: Json) -> String {
    templates()
        .render_str(source, &vars(v))
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn fails(source: &str, v: Json) -> TemplateError {
    match templates().render_str(source, &vars(v)) {
        Ok(out) => panic!("{source} rendered {out:?}, expected an error"),
        Err(err) => err,
    }
}

fn cond(c: Json, v: Json) -> Result<bool, TemplateError> {
    templates().eval_condition(&c, &vars(v))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn templates_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Templates>();
    check::<Vars>();
}

// ----- strings, native typing -----

#[test]
fn strings_without_template_syntax_are_returned_as_is() {
    assert_eq!(
        render("echo ${HOME} {x} }}", json!({})),
        "echo ${HOME} {x} }}"
    );
}

#[test]
fn render_str_keeps_trailing_newline_and_trims_blocks() {
    let v = json!({"items": ["a", "b"]});
    assert_eq!(render("x={{ items[0] }}\n", v.clone()), "x=a\n");
    assert_eq!(
        render("{% for i in items %}\n{{ i }}\n{% endfor %}\n", v.clone()),
        "a\nb\n"
    );
    // lstrip_blocks is off, as in Ansible's template module.
    assert_eq!(render("  {% if true %}x{% endif %}", v), "  x");
}

#[test]
fn single_expression_gives_native_values() {
    let t = templates();
    let v = vars(json!({
        "groups": {"workers": ["w1", "w2"]},
        "n": 3,
        "flag": true,
        "conf": {"a": {"b": [1, 2]}},
        "nothing": null,
    }));
    let input = json!({
        "loop": "{{ groups['workers'] }}",
        "retries": "{{ n }}",
        "padded": "  {{ n + 1 }}\n",
        "flag": "{{ flag }}",
        "conf": "{{ conf }}",
        "nothing": "{{ nothing }}",
        "text": "n={{ n }}",
        "two": "{{ n }}{{ n }}",
        "nested": [{"x": "{{ flag }}"}, "plain"],
        "number": 7,
        "{{ 'key_' ~ n }}": "templated key",
    });
    assert_eq!(
        t.render_value(&input, &v).unwrap(),
        json!({
            "loop": ["w1", "w2"],
            "retries": 3,
            "padded": 4,
            "flag": true,
            "conf": {"a": {"b": [1, 2]}},
            "nothing": null,
            "text": "n=3",
            "two": "33",
            "nested": [{"x": true}, "plain"],
            "number": 7,
            "key_3": "templated key",
        })
    );
}

#[test]
fn default_omit_drops_the_argument() {
    let t = templates();
    let input = json!({"owner": "{{ owner | default(omit) }}", "mode": "0644"});
    assert_eq!(
        t.render_value(&input, &vars(json!({}))).unwrap(),
        json!({"mode": "0644"})
    );
    assert_eq!(
        t.render_value(&input, &vars(json!({"owner": "root"})))
            .unwrap(),
        json!({"owner": "root", "mode": "0644"})
    );
}

#[test]
fn printing_follows_python_and_ansible() {
    let v = json!({"t": true, "f": false, "none": null, "n": 1.5});
    // Ansible prints None as an empty string (its finalize), booleans as Python.
    assert_eq!(
        render("{{ t }} {{ f }} [{{ none }}] {{ n }}", v.clone()),
        "True False [] 1.5"
    );
    assert_eq!(render("{{ none | string }}", v), "None");
}

// ----- undefined variables -----

#[test]
fn printing_an_undefined_variable_names_it() {
    let err = fails("echo {{ foo }}", json!({}));
    assert_eq!(err.kind(), TemplateErrorKind::Undefined);
    assert_eq!(err.message(), "`foo` is undefined");
    assert_eq!(err.to_string(), "template string: `foo` is undefined");
}

#[test]
fn undefined_attribute_of_a_defined_map_names_the_path() {
    let err = fails("{{ x.y }}", json!({"x": {}}));
    assert_eq!(err.message(), "`x.y` is undefined");
}

#[test]
fn defined_default_and_tests_accept_undefined() {
    let v = json!({"x": {}, "empty": ""});
    assert_eq!(render("{{ foo is defined }}", v.clone()), "False");
    assert_eq!(render("{{ foo is undefined }}", v.clone()), "True");
    assert_eq!(render("{{ foo | default('d') }}", v.clone()), "d");
    assert_eq!(render("{{ foo | d('d') }}", v.clone()), "d");
    assert_eq!(render("{{ x.y | default('d') }}", v.clone()), "d");
    assert_eq!(render("{{ x.y is defined }}", v.clone()), "False");
    assert_eq!(render("{{ empty | default('d') }}", v.clone()), "");
    assert_eq!(render("{{ empty | default('d', true) }}", v.clone()), "d");
    assert_eq!(
        render("{% if foo is defined and foo %}y{% else %}n{% endif %}", v),
        "n"
    );
}

#[test]
fn truth_of_an_undefined_variable_fails_as_in_ansible() {
    // Ansible's StrictUndefined fails `{% if foo %}` and `when: foo`.
    assert!(fails("{% if foo %}y{% endif %}", json!({})).is_undefined());
    let err = cond(json!("foo"), json!({})).unwrap_err();
    assert_eq!(err.message(), "`foo` is undefined");
    assert_eq!(err.to_string(), "expression `foo`: `foo` is undefined");
    assert!(
        cond(json!("not foo"), json!({}))
            .unwrap_err()
            .is_undefined()
    );
}

#[test]
fn using_an_undefined_variable_fails() {
    for source in [
        "{{ foo | upper }}",
        "{{ 'a' ~ foo }}",
        "{% for i in foo %}{% endfor %}",
        "{{ foo == 'a' }}",
        "{{ foo | quote }}",
        "{{ foo | int }}",
        "{{ foo | bool }}",
    ] {
        let err = fails(source, json!({}));
        assert!(
            err.message().contains("`foo` is undefined"),
            "{source}: {err}"
        );
    }
}

#[test]
fn undefined_parent_is_chained_only_before_default() {
    // As Ansible: an undefined link gives the default; without one it is strict.
    assert_eq!(render("{{ missing.y | default(1) }}", json!({})), "1");
    assert_eq!(
        render("{{ (missing | default({})).y | default(1) }}", json!({})),
        "1"
    );
    let err = fails("{{ missing.y }}", json!({}));
    assert_eq!(err.message(), "`missing` is undefined");
}

// ----- conditions -----

#[test]
fn conditions_in_every_form() {
    let v = json!({"n": 3, "yes_string": "yes", "list": [1], "empty": []});
    assert!(cond(json!("n > 2"), v.clone()).unwrap());
    assert!(!cond(json!("n > 3"), v.clone()).unwrap());
    assert!(cond(json!("{{ n > 2 }}"), v.clone()).unwrap());
    assert!(cond(json!(true), v.clone()).unwrap());
    assert!(!cond(json!(false), v.clone()).unwrap());
    assert!(cond(json!(null), v.clone()).unwrap());
    assert!(cond(json!(["n > 1", "n < 4"]), v.clone()).unwrap());
    assert!(!cond(json!(["n > 1", "n > 4"]), v.clone()).unwrap());
    assert!(cond(json!("yes_string"), v.clone()).unwrap());
    assert!(cond(json!("list"), v.clone()).unwrap());
    assert!(!cond(json!("empty"), v.clone()).unwrap());
    assert!(cond(json!("n is defined and\n  n == 3\n"), v).unwrap());
}

#[test]
fn condition_list_stops_at_the_first_false() {
    // The second item would fail on the undefined `x`; Ansible never evaluates it.
    assert!(!cond(json!(["x is defined", "x > 1"]), json!({})).unwrap());
}

#[test]
fn condition_may_hold_template_markers_in_string_literals() {
    let t = templates();
    // Registered output (raw: never rendered) that contains template syntax.
    let mut v = Vars::new();
    v.insert_raw("out", json!("a {{ b }} %} c"));
    let check = |c: Json| t.eval_condition(&c, &v).unwrap();
    assert!(check(json!("'{{' in out")));
    assert!(check(json!("'%}' in out and '{%' not in out")));
    assert!(check(json!(["'{{' in out", "out is search('%}')"])));
}

#[test]
fn condition_with_a_non_boolean_string_fails() {
    let err = cond(json!("s"), json!({"s": "maybe"})).unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::NotBoolean);
    assert_eq!(
        err.to_string(),
        "expression `s`: the condition gave the string `maybe`, expected a boolean"
    );
    let err = cond(json!("{{ s }} == 1"), json!({"s": "a"})).unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::NotBoolean);
}

#[test]
fn eval_expr_returns_data() {
    let t = templates();
    let v = vars(json!({"groups": {"all": ["a", "b", "c"]}}));
    assert_eq!(
        t.eval_expr("groups.all | select('ne', 'b') | list", &v)
            .unwrap(),
        json!(["a", "c"])
    );
    assert_eq!(
        t.eval_expr("{'k': groups.all | length}", &v).unwrap(),
        json!({"k": 3})
    );
    let err = t.eval_expr("nope", &v).unwrap_err();
    assert!(err.is_undefined());
    assert_eq!(err.message(), "`nope` is undefined");
}

// ----- filters -----

#[test]
fn quote_is_shell_safe() {
    let v = json!({"p": "/tmp/a b", "q": "it's", "n": 5, "s": "simple"});
    assert_eq!(
        render(
            "rm {{ p | quote }} {{ q | quote }} {{ n | quote }} {{ s | quote }}",
            v
        ),
        r#"rm '/tmp/a b' 'it'"'"'s' 5 simple"#
    );
    assert!(
        fails("{{ [1] | quote }}", json!({}))
            .message()
            .contains("`quote` expects a string")
    );
}

#[test]
fn regex_filters_use_python_syntax() {
    let v = json!({"v": "v1.23.17", "img": "k8s.gcr.io/pause:3.6"});
    assert_eq!(
        render(
            r#"{{ v | regex_replace('^v(\\d+)\\.(\\d+).*$', '\\1.\\2') }}"#,
            v.clone()
        ),
        "1.23"
    );
    assert_eq!(
        render(
            r#"{{ img | regex_replace('^k8s\\.gcr\\.io/', 'registry.k8s.io/') }}"#,
            v.clone()
        ),
        "registry.k8s.io/pause:3.6"
    );
    assert_eq!(
        render(
            r#"{{ 'A-b' | regex_replace('a', 'x', ignorecase=true) }}"#,
            v.clone()
        ),
        "x-b"
    );
    assert_eq!(
        render(r#"{{ v | regex_search('\\d+\\.\\d+') }}"#, v.clone()),
        "1.23"
    );
    assert_eq!(
        render(
            r#"{{ img | regex_search(':(\\S+)$', '\\1') | first }}"#,
            v.clone()
        ),
        "3.6"
    );
    assert_eq!(
        render(r#"{{ v | regex_search('^x') is none }}"#, v.clone()),
        "True"
    );
    assert_eq!(
        render(r#"{{ 'a1b22' | regex_findall('\\d+') }}"#, v.clone()),
        "['1', '22']"
    );
    assert!(
        fails("{{ 'a' | regex_replace('(', '') }}", v)
            .message()
            .contains("bad regular expression `(`")
    );
}

#[test]
fn bool_int_float_follow_ansible() {
    let v = json!({"y": "yes", "off": "Off", "one": 1, "s": " 42\n", "f": "2.5", "garbage": "abc"});
    assert_eq!(
        render(
            "{{ y | bool }} {{ off | bool }} {{ one | bool }} {{ 'TRUE' | bool }}",
            v.clone()
        ),
        "True False True True"
    );
    assert_eq!(
        render(
            "{{ s | int + 1 }} {{ f | int }} {{ '0x1f' | int(base=16) }} {{ '' | int }}",
            v.clone()
        ),
        "43 2 31 0"
    );
    assert_eq!(
        render("{{ f | float * 2 }} {{ 3 | float }}", v.clone()),
        "5.0 3.0"
    );
    assert_eq!(
        render(
            "{{ garbage | int(default=7) }} {{ garbage | int(7) }}",
            v.clone()
        ),
        "7 7"
    );
    assert_eq!(
        fails("{{ garbage | int }}", v.clone()).message(),
        "`int` cannot convert `abc` to an integer"
    );
    assert!(
        fails("{{ garbage | bool }}", v)
            .message()
            .contains("`bool` does not know `abc`")
    );
}

#[test]
fn builtin_string_filters() {
    let v = json!({"s": "  Mixed Case  ", "csv": "a,b,c", "l": ["x", "y", "x"]});
    assert_eq!(
        render("{{ s | trim | lower }}|{{ s | trim | upper }}", v.clone()),
        "mixed case|MIXED CASE"
    );
    assert_eq!(
        render("{{ csv | split(',') | join('-') }}", v.clone()),
        "a-b-c"
    );
    assert_eq!(render("{{ l | unique | join(',') }}", v.clone()), "x,y");
    assert_eq!(render("{{ 42 | string ~ 'x' }}", v), "42x");
}

/// Outputs as ansible-core 2.21's `indent` (Jinja2's) gives them: a trailing newline kept.
#[test]
fn indent_filter_as_jinja2() {
    let v = json!({"d": "size 10M\ncopytruncate\n", "e": "a\n\nb", "f": "x"});
    assert_eq!(
        render("{{ d | indent(4) }}", v.clone()),
        "size 10M\n    copytruncate\n"
    );
    assert_eq!(render("{{ e | indent(2) }}", v.clone()), "a\n\n  b");
    assert_eq!(
        render("{{ e | indent(2, blank=true) }}", v.clone()),
        "a\n  \n  b"
    );
    assert_eq!(render("{{ e | indent(2, true) }}", v.clone()), "  a\n\n  b");
    assert_eq!(render("{{ f | indent }}", v.clone()), "x");
    assert_eq!(
        render("{{ d | indent(first=true) }}", v),
        "    size 10M\n    copytruncate\n"
    );
}

/// Outputs as ansible-core 2.21's `comment` filter gives them.
#[test]
fn comment_filter_as_ansible() {
    let v = json!({"m": "Ansible managed", "two": "a\n\nb"});
    assert_eq!(
        render("{{ m | comment }}", v.clone()),
        "#\n# Ansible managed\n#"
    );
    assert_eq!(
        render("{{ two | comment }}", v.clone()),
        "#\n# a\n#\n# b\n#"
    );
    assert_eq!(
        render("{{ m | comment('cblock') }}", v.clone()),
        "/*\n *\n * Ansible managed\n *\n */"
    );
    assert_eq!(
        render(
            "{{ m | comment('c', prefix_count=0, postfix_count=2) }}",
            v.clone()
        ),
        "// Ansible managed\n//\n//"
    );
    assert_eq!(
        render("{{ m | comment(decoration='; ') }}", v),
        ";\n; Ansible managed\n;"
    );
}

#[test]
fn version_test_and_filter() {
    let v = json!({"kube": "v1.23.17", "new": "1.27.3"});
    assert_eq!(
        render("{{ kube is version('1.24', '<') }}", v.clone()),
        "True"
    );
    assert_eq!(
        render("{{ kube is version('1.24', operator='ge') }}", v.clone()),
        "False"
    );
    assert_eq!(
        render("{{ new is version('v1.27', '>=') }}", v.clone()),
        "True"
    );
    assert_eq!(
        render("{{ new is version_compare('1.27.3') }}", v.clone()),
        "True"
    );
    assert_eq!(
        render("{{ kube | version('1.19', 'gt') }}", v.clone()),
        "True"
    );
    assert_eq!(
        render("{{ kube | version_compare('1.19', 'lt') }}", v.clone()),
        "False"
    );
    assert!(cond(json!("kube is version('1.24', '<')"), v.clone()).unwrap());
    assert!(
        fails("{{ 'x' is version('1', '>') }}", v.clone())
            .message()
            .contains("`x` is not a version")
    );
    assert!(
        fails("{{ kube is version('1', 'bigger') }}", v)
            .message()
            .contains("unknown version operator `bigger`")
    );
}

#[test]
fn json_and_yaml_filters() {
    let v = json!({"d": {"b": 1, "a": [true, null, "s"]}, "j": "{\"k\": [1, 2]}", "y": "k:\n  - 1\n  - x\n"});
    assert_eq!(
        render("{{ d | to_json }}", v.clone()),
        r#"{"b": 1, "a": [true, null, "s"]}"#
    );
    assert_eq!(
        render("{{ d | to_nice_json }}", v.clone()),
        "{\n    \"a\": [\n        true,\n        null,\n        \"s\"\n    ],\n    \"b\": 1\n}"
    );
    assert_eq!(render("{{ (j | from_json).k[1] }}", v.clone()), "2");
    assert_eq!(render("{{ (y | from_yaml).k | last }}", v.clone()), "x");
    let yaml = render("{{ d | to_yaml }}", v.clone());
    let back: Json = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back, json!({"a": [true, null, "s"], "b": 1}), "{yaml}");
    assert!(yaml.starts_with("a:"), "keys sorted: {yaml}");
    let nice = render("{{ {'top': {'inner': 1}} | to_nice_yaml }}", v);
    assert!(nice.contains("\n    inner: 1"), "4-space indent: {nice:?}");
}

#[test]
fn base64_filters() {
    let v = json!({"s": "user:pässword"});
    assert_eq!(
        render("{{ s | b64encode }}", v.clone()),
        "dXNlcjpww6Rzc3dvcmQ="
    );
    assert_eq!(
        render("{{ s | b64encode | b64decode }}", v),
        "user:pässword"
    );
}

#[test]
fn list_and_dict_filters() {
    let v = json!({
        "a": [1, 2, 2, 3], "b": [2, 4],
        "d": {"x": 1, "y": 2},
        "items": [{"key": "k", "value": "v"}],
        "over": {"y": 20, "z": 30},
        "deep": {"m": {"p": 1, "l": [1]}}, "deep2": {"m": {"q": 2, "l": [2]}},
    });
    assert_eq!(render("{{ a | difference(b) }}", v.clone()), "[1, 3]");
    assert_eq!(render("{{ a | intersect(b) }}", v.clone()), "[2]");
    assert_eq!(render("{{ a | union(b) }}", v.clone()), "[1, 2, 3, 4]");
    assert_eq!(
        render("{{ a | symmetric_difference(b) }}", v.clone()),
        "[1, 3, 4]"
    );
    assert_eq!(
        render(
            "{{ d | dict2items | map(attribute='key') | join(',') }}",
            v.clone()
        ),
        "x,y"
    );
    assert_eq!(render("{{ (items | items2dict).k }}", v.clone()), "v");
    assert_eq!(
        render("{{ d | combine(over) | to_json }}", v.clone()),
        r#"{"x": 1, "y": 20, "z": 30}"#
    );
    assert_eq!(
        render(
            "{{ deep | combine(deep2, recursive=true) | to_json }}",
            v.clone()
        ),
        r#"{"m": {"p": 1, "l": [2], "q": 2}}"#
    );
    assert_eq!(
        render(
            "{{ deep | combine(deep2, recursive=true, list_merge='append') | to_json }}",
            v.clone()
        ),
        r#"{"m": {"p": 1, "l": [1, 2], "q": 2}}"#
    );
    assert_eq!(
        render("{{ [1, [2, [3, none]]] | flatten }}", v.clone()),
        "[1, 2, 3]"
    );
    assert_eq!(
        render("{{ [1, [2, [3]]] | flatten(levels=1) }}", v.clone()),
        "[1, 2, [3]]"
    );
    assert_eq!(
        render(
            "{{ true | ternary('on', 'off') }} {{ none | ternary(1, 2, 3) }}",
            v
        ),
        "on 3"
    );
}

#[test]
fn path_filters_follow_python() {
    let v = json!({"p": "/etc/containerd/config.toml"});
    assert_eq!(
        render("{{ p | basename }} {{ p | dirname }}", v),
        "config.toml /etc/containerd"
    );
    assert_eq!(
        render(
            "{{ '/x' | dirname }} [{{ 'x' | dirname }}] [{{ '/a/' | basename }}]",
            json!({})
        ),
        "/ [] []"
    );
}

#[test]
fn mandatory_fails_on_undefined() {
    assert_eq!(render("{{ x | mandatory }}", json!({"x": 1})), "1");
    let err = fails("{{ x | mandatory }}", json!({}));
    assert!(err.is_undefined());
    assert!(err.message().contains("`x` is undefined"), "{err}");
    let err = fails("{{ x | mandatory('set x in the inventory') }}", json!({}));
    assert_eq!(err.message(), "set x in the inventory");
}

#[test]
fn tests_on_registered_results() {
    let v = json!({
        "ok": {"rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": [], "changed": true, "failed": false, "skipped": false},
        "bad": {"rc": 1, "changed": false, "failed": true},
        "skip": {"changed": false, "skipped": true},
        "looped": {"results": [{"changed": false}, {"changed": true}]},
    });
    assert_eq!(
        render(
            "{{ ok is succeeded }} {{ ok is success }} {{ ok is failed }} {{ ok is changed }} {{ ok is skipped }}",
            v.clone()
        ),
        "True True False True False"
    );
    assert_eq!(
        render(
            "{{ bad is failed }} {{ bad is succeeded }} {{ bad is changed }}",
            v.clone()
        ),
        "True False False"
    );
    assert_eq!(
        render("{{ skip is skipped }} {{ looped is changed }}", v.clone()),
        "True True"
    );
    assert!(cond(json!("bad is failed"), v.clone()).unwrap());
    assert!(
        fails("{{ 'x' is failed }}", v)
            .message()
            .contains("expects a registered result")
    );
}

#[test]
fn match_and_search_tests() {
    let v = json!({"s": "containerd://1.6.20"});
    assert_eq!(
        render(
            "{{ s is match('containerd://') }} {{ s is match('1\\\\.6') }}",
            v.clone()
        ),
        "True False"
    );
    assert_eq!(
        render(
            "{{ s is search('1\\\\.6') }} {{ s is regex('^docker') }}",
            v.clone()
        ),
        "True False"
    );
    assert_eq!(render("{{ ['a', 'b'] is contains('b') }}", v), "True");
}

#[test]
fn python_methods_work() {
    let v = json!({"v": "v1.23", "d": {"a": 1}, "out": "x\ny\n"});
    assert_eq!(
        render(
            "{{ v.startswith('v1') }} {{ v.replace('v', '') }}",
            v.clone()
        ),
        "True 1.23"
    );
    assert_eq!(
        render(
            "{% for k, x in d.items() %}{{ k }}={{ x }}{% endfor %}",
            v.clone()
        ),
        "a=1"
    );
    assert_eq!(
        render(
            "{{ d.get('b', 'none') }} {{ out.splitlines() | length }}",
            v
        ),
        "none 2"
    );
}

// ----- variables -----

#[test]
fn variables_that_are_templates_render_when_used() {
    let v = json!({
        "data_dir": "/data",
        "containerd_root": "{{ data_dir }}/containerd",
        "dirs": ["{{ containerd_root }}", "/run"],
        "count": "{{ 1 + 2 }}",
    });
    assert_eq!(
        render("{{ containerd_root }}", v.clone()),
        "/data/containerd"
    );
    assert_eq!(render("{{ dirs[0] }}", v.clone()), "/data/containerd");
    // Native typing applies to the variable's value too.
    assert_eq!(render("{{ count + 1 }}", v.clone()), "4");
    let t = templates();
    assert_eq!(
        t.eval_expr("dirs", &vars(v)).unwrap(),
        json!(["/data/containerd", "/run"])
    );
}

#[test]
fn variable_template_errors_name_the_variable() {
    let err = fails("{{ root }}", json!({"root": "{{ data_dirr }}/x"}));
    assert!(err.message().contains("`data_dirr` is undefined"), "{err}");
    assert!(
        err.message().contains("in variable `{{ data_dirr }}/x`"),
        "{err}"
    );
}

#[test]
fn recursive_variables_are_reported() {
    let err = fails("{{ a }}", json!({"a": "{{ b }}", "b": "{{ a }}"}));
    assert!(err.message().contains("recursive loop detected"), "{err}");
}

#[test]
fn raw_layers_are_never_rendered() {
    let t = templates();
    let mut v = vars(json!({"x": 1}));
    v.insert_raw(
        "result",
        json!({"stdout": "{{ .Id }} {{ x }}", "stdout_lines": ["{{ x }}"]}),
    );
    assert_eq!(
        t.render_str("{{ result.stdout }}|{{ result.stdout_lines[0] }}", &v)
            .unwrap(),
        "{{ .Id }} {{ x }}|{{ x }}"
    );
}

#[test]
fn layers_are_shared_and_later_layers_win() {
    let t = templates();
    let inventory = Arc::new(json!({"a": 1, "b": 1}).as_object().unwrap().clone());
    let mut host = Vars::new();
    host.push_layer(inventory.clone());
    let mut task = host.clone();
    task.insert("b", json!(2)).insert("item", json!("i"));
    assert_eq!(
        t.render_str("{{ a }}{{ b }}{{ item }}", &task).unwrap(),
        "12i"
    );
    assert_eq!(
        t.render_str("{{ b }}{{ item is defined }}", &host).unwrap(),
        "1False"
    );
    assert_eq!(inventory.get("b"), Some(&json!(1)));
    assert_eq!(
        task.to_map(),
        json!({"a": 1, "b": 2, "item": "i"})
            .as_object()
            .unwrap()
            .clone()
    );
}

#[test]
fn hostvars_render_with_each_hosts_own_variables() {
    let t = templates();
    let node = |name: &str, ip: &str| {
        vars(
            json!({"inventory_hostname": name, "ansible_host": ip, "api": "https://{{ ansible_host }}:6443"}),
        )
    };
    let mut hosts = indexmap::IndexMap::new();
    hosts.insert("m0".to_string(), node("m0", "10.0.0.1"));
    hosts.insert("w0".to_string(), node("w0", "10.0.0.2"));
    let hostvars = Arc::new(hosts);
    let mut w0 = hostvars["w0"].clone();
    w0.set_hostvars(hostvars.clone());
    assert_eq!(
        t.render_str(
            "{{ api }} {{ hostvars['m0'].api }} {{ hostvars | length }}",
            &w0
        )
        .unwrap(),
        "https://10.0.0.2:6443 https://10.0.0.1:6443 2"
    );
}

#[test]
fn vars_magic_variable_looks_up_by_computed_name() {
    let v = json!({"image_pause": "pause:3.6", "which": "pause"});
    assert_eq!(render("{{ vars['image_' ~ which] }}", v), "pause:3.6");
}

#[test]
fn lazy_maps_behave_like_maps() {
    let v = json!({"d": {"b": 2, "a": 1}, "l": [3, 1, 2], "e": {}, "n": [{"k": 1}, {"k": 2}]});
    for (source, want) in [
        (
            "{{ d | length }} {{ l | length }} {{ e | length }}",
            "2 3 0",
        ),
        (
            "{{ d == {'b': 2, 'a': 1} }} {{ l == [3, 1, 2] }}",
            "True True",
        ),
        (
            "{{ l | sort | join(',') }} {{ l[-1] }} {{ l[1:] }}",
            "1,2,3 2 [1, 2]",
        ),
        (
            "{{ 1 in l }} {{ 'a' in d }} {{ 'z' in d }}",
            "True True False",
        ),
        (
            "{% for k in d %}{{ k }}{% endfor %} {{ d | dictsort | first | first }}",
            "ba a",
        ),
        (
            "{{ n | map(attribute='k') | sum }} {{ n | selectattr('k', 'eq', 2) | list | length }}",
            "3 1",
        ),
        (
            "{{ d is mapping }} {{ l is sequence }} {{ e is mapping }}",
            "True True True",
        ),
        (
            "{% if e %}y{% else %}n{% endif %}{% if d %}y{% endif %}",
            "ny",
        ),
        ("{{ l + [4] }}", "[3, 1, 2, 4]"),
        (
            "{{ d | to_json }} {{ d | items | list | length }}",
            r#"{"b": 2, "a": 1} 2"#,
        ),
    ] {
        assert_eq!(render(source, v.clone()), want, "{source}");
    }
}

// ----- files -----

#[test]
fn files_are_never_auto_escaped_and_keep_their_newline() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "page.html.j2",
        "config.yml.j2",
        "daemon.json.j2",
        "plain.j2",
    ] {
        write(dir.path(), name, "v={{ v }}\n");
    }
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let v = vars(json!({"v": "<a & \"b\">"}));
    for name in [
        "page.html.j2",
        "config.yml.j2",
        "daemon.json.j2",
        "plain.j2",
    ] {
        assert_eq!(
            t.render_file(name, &v).unwrap(),
            "v=<a & \"b\">\n",
            "{name}"
        );
    }
}

#[test]
fn files_are_found_in_search_dirs_in_order() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    write(second.path(), "a.j2", "second");
    write(second.path(), "b.j2", "second b");
    write(first.path(), "a.j2", "first");
    let t = Templates::new(vec![
        first.path().to_path_buf(),
        second.path().to_path_buf(),
    ]);
    let v = Vars::new();
    assert_eq!(t.render_file("a.j2", &v).unwrap(), "first");
    assert_eq!(t.render_file("b.j2", &v).unwrap(), "second b");
    let absolute = second.path().join("a.j2");
    assert_eq!(
        t.render_file(absolute.to_str().unwrap(), &v).unwrap(),
        "second"
    );
    assert_eq!(t.find_file("b.j2"), Some(second.path().join("b.j2")));
    assert_eq!(t.find_file("c.j2"), None);
    let err = t.render_file("c.j2", &v).unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "c.j2: template file `c.j2` not found in `{}`, `{}`",
            first.path().display(),
            second.path().display()
        )
    );
}

#[test]
fn includes_resolve_beside_the_file_then_in_search_dirs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "common.j2", "common {{ x }}");
    write(dir.path(), "sub/part.j2", "part");
    write(
        dir.path(),
        "sub/main.j2",
        "{% include 'part.j2' %}+{% include 'common.j2' %}\n",
    );
    write(
        dir.path(),
        "macros.j2",
        "{% macro kv(k, v) %}{{ k }} = {{ v | to_json }}{% endmacro %}",
    );
    write(
        dir.path(),
        "uses.j2",
        "{% import 'macros.j2' as m %}{{ m.kv('a', 1) }}\n",
    );
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let v = vars(json!({"x": 1}));
    // trim_blocks eats the newline after the last `{% include %}`, as in Ansible.
    assert_eq!(t.render_file("sub/main.j2", &v).unwrap(), "part+common 1");
    assert_eq!(t.render_file("uses.j2", &v).unwrap(), "a = 1\n");
    t.check_file("sub/main.j2").unwrap();
}

#[test]
fn error_in_a_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "config.toml.j2",
        "a = 1\nb = \"{{ sandbox_imag }}\"\n",
    );
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let err = t.render_file("config.toml.j2", &Vars::new()).unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert_eq!(
        err.to_string(),
        format!("{}:2: `sandbox_imag` is undefined", path.display())
    );
}

#[test]
fn error_in_an_included_file_names_the_included_file_and_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let parent = write(dir.path(), "parent.j2", "line1\n{% include 'child.j2' %}\n");
    let child = write(dir.path(), "child.j2", "ok\nok\n{{ missing_var }}\n");
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let err = t.render_file("parent.j2", &Vars::new()).unwrap_err();
    assert_eq!(err.message(), "`missing_var` is undefined");
    assert_eq!(err.line(), Some(2));
    assert_eq!(err.included().len(), 1);
    assert_eq!(err.included()[0].line, Some(3));
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: `missing_var` is undefined (included from {}:2)",
            child.display(),
            parent.display()
        )
    );
}

#[test]
fn check_file_finds_syntax_errors_and_missing_includes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.j2", "ok\n{% if x %}\nno end\n");
    let parent = write(dir.path(), "parent.j2", "a\nb\n{% include \"gone.j2\" %}\n");
    write(
        dir.path(),
        "optional.j2",
        "{% include 'gone.j2' ignore missing %}",
    );
    write(dir.path(), "nested.j2", "{% include 'bad.j2' %}");
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let err = t.check_file("bad.j2").unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::Syntax);
    assert!(err.to_string().contains("bad.j2:"), "{err}");
    let err = t.check_file("parent.j2").unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::NotFound);
    assert_eq!(err.line(), Some(3));
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3: template file `gone.j2` not found",
            parent.display()
        )),
        "{err}"
    );
    t.check_file("optional.j2").unwrap();
    assert_eq!(
        t.check_file("nested.j2").unwrap_err().kind(),
        TemplateErrorKind::Syntax
    );
    assert_eq!(
        t.check_file("nope.j2").unwrap_err().kind(),
        TemplateErrorKind::NotFound
    );
}

// ----- errors and checks -----

#[test]
fn error_line_is_the_line_within_the_string() {
    let err = fails("line1\nline2 {{ nope }}\nline3", json!({}));
    assert_eq!(err.line(), Some(2));
    assert_eq!(
        err.to_string(),
        "template string, line 2: `nope` is undefined"
    );
}

#[test]
fn check_str_and_check_expr_report_syntax() {
    let t = templates();
    t.check_str("plain").unwrap();
    t.check_str("{{ a | default('x') }}").unwrap();
    let err = t.check_str("a\n{{ a | }}").unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::Syntax);
    assert_eq!(err.line(), Some(2));
    assert!(err.message().starts_with("syntax error:"), "{err}");
    t.check_expr("a is defined and a > 1").unwrap();
    let err = t.check_expr("a >").unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::Syntax);
    assert!(
        err.to_string()
            .starts_with("expression `a >`: syntax error"),
        "{err}"
    );
    t.check_condition(&json!(["a", "{{ b }}", true])).unwrap();
    assert!(t.check_condition(&json!(["a", "b ="])).is_err());
    t.check_value(&json!({"k": ["{{ x }}", "y {{ z }}"]}))
        .unwrap();
    assert!(t.check_value(&json!({"k": ["{{ x ) }}"]})).is_err());
}

#[test]
fn syntax_error_in_a_condition_is_reported_as_the_expression() {
    let err = cond(json!("x =="), json!({"x": 1})).unwrap_err();
    assert_eq!(err.kind(), TemplateErrorKind::Syntax);
    assert!(
        err.to_string()
            .starts_with("expression `x ==`: syntax error"),
        "{err}"
    );
    assert!(!err.message().contains("__rtmig_value"), "{err}");
}

#[test]
fn unknown_filter_is_reported() {
    let err = fails("{{ x | regex_replce('a', 'b') }}", json!({"x": "a"}));
    assert!(err.message().contains("unknown filter"), "{err}");
}

#[test]
fn same_source_is_compiled_once() {
    let t = templates();
    let v = vars(json!({"x": 1}));
    for _ in 0..3 {
        t.render_str("{{ x }}-a", &v).unwrap();
        t.eval_condition(&json!("x == 1"), &v).unwrap();
    }
    let inline = t.engine.sources.inline.read().unwrap();
    assert_eq!(inline.strings.len(), 1);
    assert_eq!(inline.expressions.len(), 1);
}

/// Not a test: `cargo test --release --lib template::tests::bench -- --ignored --nocapture`
/// prints the cost of rendering a 4 KB template with 20 variables.
#[test]
#[ignore]
fn bench_render_str() {
    let mut map = serde_json::Map::new();
    for i in 0..20 {
        map.insert(format!("var{i}"), json!(format!("value number {i}")));
    }
    map.insert("list".into(), json!(["a", "b", "c", "d"]));
    // A big `hostvars`-like variable that the template does not touch must cost
    // nothing per render.
    let mut hosts = serde_json::Map::new();
    for h in 0..100 {
        let host: serde_json::Map<String, Json> = (0..30)
            .map(|i| (format!("v{i}"), json!(format!("{h}-{i}"))))
            .collect();
        hosts.insert(format!("node{h:03}"), Json::Object(host));
    }
    map.insert("hostvars".into(), Json::Object(hosts));
    let v = Vars::from(map);
    let mut source = String::new();
    while source.len() < 4096 {
        for i in 0..20 {
            source.push_str(&format!("key{i} = \"{{{{ var{i} }}}}\" # padding text\n"));
        }
        source.push_str("{% for x in list %}item {{ x | upper }}\n{% endfor %}");
    }
    let t = templates();
    let n = 2000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(t.render_str(&source, &v).unwrap());
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "render_str, {} byte template, 20 vars: {per:.1} µs",
        source.len()
    );
    // The same through minijinja alone, with the variables (without hostvars)
    // converted eagerly once: the floor for this template.
    let mut small = v.to_map();
    small.remove("hostvars");
    let eager = minijinja::Value::from(minijinja::value::Serde(&small));
    let compiled = t.engine.env.template_from_str(&source).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(compiled.render(eager.clone()).unwrap());
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("  minijinja alone, eager context converted once: {per:.1} µs");
    let start = std::time::Instant::now();
    for _ in 0..n * 10 {
        std::hint::black_box(
            t.eval_condition(&json!("var3 is defined and list | length > 2"), &v)
                .unwrap(),
        );
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / (n * 10) as f64;
    println!("eval_condition: {per:.2} µs");
    let start = std::time::Instant::now();
    for _ in 0..n * 10 {
        std::hint::black_box(
            t.render_str("echo {{ var1 }} {{ hostvars['node042'].v7 }}", &v)
                .unwrap(),
        );
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / (n * 10) as f64;
    println!("short render_str with a hostvars lookup: {per:.2} µs");
}

#[test]
fn jinja2_header_overrides_as_the_template_module() {
    let dir = tempfile::tempdir().unwrap();
    let body = "{% for x in xs %}\n  {% if x %}\n{{ x }}\n  {% endif %}\n{% endfor %}\n";
    std::fs::write(
        dir.path().join("on.j2"),
        format!("#jinja2: lstrip_blocks: True\n{body}"),
    )
    .unwrap();
    std::fs::write(dir.path().join("off.j2"), body).unwrap();
    std::fs::write(
        dir.path().join("bad.j2"),
        "#jinja2: variable_start_string: '[['\nx\n",
    )
    .unwrap();
    let t = Templates::new(vec![dir.path().to_path_buf()]);
    let vars = match serde_json::json!({"xs": ["a", "b"]}) {
        serde_json::Value::Object(m) => Vars::from(m),
        _ => unreachable!(),
    };
    // Jinja2 (what ansible-playbook renders): the header line gone, the indented
    // block tags' lines empty with lstrip_blocks, two spaces left without.
    assert_eq!(t.render_file("on.j2", &vars).unwrap(), "a\nb\n");
    assert_eq!(t.render_file("off.j2", &vars).unwrap(), "  a\n    b\n  ");
    let err = t.render_file("bad.j2", &vars).unwrap_err().to_string();
    assert!(err.contains("variable_start_string"), "{err}");
}
