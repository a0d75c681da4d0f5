//! Python's `%`, `format`, `str.format` and lenient default chains. Every expected
//! string is what ansible-playbook 2.21 (ansible-core, Jinja2 3.1) printed for the same
//! expression with `debug: msg: "{{ (EXPR) | to_json }}"` and the same variables.

use serde_json::{Value as Json, json};

use super::rewrite;
use crate::template::{Templates, Vars};

fn vars() -> Vars {
    let v = json!({"n": 5, "a": "x", "b": "y", "loop_idx": 3, "d": {"name": "bob", "age": 42}});
    match v {
        Json::Object(map) => Vars::from(map),
        _ => unreachable!(),
    }
}

fn eval(expr: &str) -> Result<Json, String> {
    Templates::new(Vec::new())
        .eval_expr(expr, &vars())
        .map_err(|e| e.to_string())
}

/// `{"vars": {..}, "expressions": [[EXPR, VALUE], ..]}`: each expression and the value
/// ansible-playbook gave for it (tests/run_local.rs compares them with a live
/// ansible-playbook when one is installed).
const ANSIBLE: &str = include_str!("../../../tests/fixtures/jinja/expressions.json");

#[test]
fn expressions_give_what_ansible_gives() {
    let fixture: Json = serde_json::from_str(ANSIBLE).unwrap();
    let vars = match &fixture["vars"] {
        Json::Object(map) => Vars::from(map.clone()),
        other => panic!("vars: {other}"),
    };
    let t = Templates::new(Vec::new());
    let mut wrong = Vec::new();
    let cases = fixture["expressions"].as_array().unwrap();
    for case in cases {
        let (expr, expected) = (case[0].as_str().unwrap(), &case[1]);
        match t.eval_expr(expr, &vars) {
            Ok(got) if got == *expected => {}
            other => wrong.push(format!("{expr}: got {other:?}, Ansible gives {expected}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(cases.len() > 40, "{}", cases.len());
}

#[test]
fn percent_in_templates_strings_and_blocks() {
    let t = Templates::new(Vec::new());
    let v = vars();
    let render = |s: &str| t.render_str(s, &v).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(render("host-{{ '%02d' % n }}.lan"), "host-05.lan");
    assert_eq!(
        render("{% for i in range(1, 4) %}{{ '%03d' % i }}{% if i % 2 %}o{% endif %} {% endfor %}"),
        "001o 002 003o "
    );
    assert_eq!(render("{% set s = '%s/%s' % (a, b) %}{{ s }}"), "x/y");
    // Text outside `{{ }}` is not touched, nor `%` inside strings.
    assert_eq!(render("50% {{ '%' ~ a }}"), "50% %x");
    assert_eq!(
        render("{% raw %}{{ '%d' % n }}{% endraw %}"),
        "{{ '%d' % n }}"
    );
    assert!(t.eval_condition(&json!("n % 5 == 0"), &v).unwrap());
    assert_eq!(
        t.render_value(&json!("{{ '%d' % n }}"), &v).unwrap(),
        json!("5")
    );
}

#[test]
fn rewrite_touches_only_operators_and_operand_ends() {
    assert_eq!(rewrite("'%d' % n", true), "__rtmig_percent('%d' , n)");
    assert_eq!(
        rewrite("a * b % c * d", true),
        "__rtmig_percent(a * b , c) * d"
    );
    assert_eq!(
        rewrite("a % b % c", true),
        "__rtmig_percent(__rtmig_percent(a , b) , c)"
    );
    assert_eq!(rewrite("x - y % 2", true), "x - __rtmig_percent(y , 2)");
    assert_eq!(
        rewrite("f(a % 2, k=b % 3)", true),
        "f(__rtmig_percent(a , 2), k=__rtmig_percent(b , 3))"
    );
    assert_eq!(
        rewrite("'%s' % x if c else y", true),
        "__rtmig_percent('%s' , x) if c else y"
    );
    assert_eq!(
        rewrite("a % 2 is not none", true),
        "__rtmig_percent(a , 2 is not none)"
    );
    let plain = "{% if x %}{{ a.b }}{% endif %} 100%";
    assert!(matches!(
        rewrite(plain, false),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(
        rewrite("a.b['c'] | default(1)", true),
        r#"(a.b['c'] if (a is defined and a.b is defined) else __rtmig_undefined) | default(1)"#
    );
}

#[test]
fn errors_stay_errors() {
    let err = eval("'%d' % missing").unwrap_err();
    assert!(err.contains("`missing` is undefined"), "{err}");
    let err = eval("'%s %s' % (a,)").unwrap_err();
    assert!(err.contains("missing an argument"), "{err}");
    let err = eval("n % 0").unwrap_err();
    assert!(err.contains("modulo by zero"), "{err}");
    let err = eval("missing.y").unwrap_err();
    assert!(err.contains("`missing` is undefined"), "{err}");
}

#[test]
fn rewritten_arithmetic_keeps_jinjas_precedence() {
    // Numbers only: minijinja's own `%` and the rewritten call must agree on every
    // mix of operators, so the rewrite cuts the operands where Jinja's parser does.
    let mut env = minijinja::Environment::new();
    super::register(&mut env);
    let ctx = minijinja::context! { n => 5 };
    let operands = ["7", "-3", "2.5", "(4)", "n"];
    let ops = ["%", "*", "//", "+", "-", "**"];
    let mut checked = 0;
    for a in operands {
        for op1 in ops {
            for b in operands {
                for op2 in ops {
                    for c in operands {
                        let expr = format!("{a} {op1} {b} {op2} {c}");
                        if !expr.contains('%') {
                            continue;
                        }
                        let native = env
                            .compile_expression(&expr)
                            .and_then(|e| e.eval(ctx.clone()));
                        let rewritten = rewrite(&expr, true);
                        let ours = env
                            .compile_expression(&rewritten)
                            .and_then(|e| e.eval(ctx.clone()));
                        match (native, ours) {
                            (Ok(x), Ok(y)) => {
                                assert_eq!(x.to_string(), y.to_string(), "{expr} (as {rewritten})")
                            }
                            (Err(_), Err(_)) => {}
                            (x, y) => panic!("{expr} (as {rewritten}): {x:?} vs {y:?}"),
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn templates_without_percent_or_default_chains_are_not_touched() {
    for source in [
        "{% for x in items if x.ok %}{{ loop.index }}{% endfor %}",
        "{% macro m(a, b=1) %}{{ a * b }}{% endmacro %}{{ m(2) }}",
        "{% set x %}{{ a ~ b }}{% endset %}{% if x in y and not z %}{% endif %}",
        "{% include 'a.j2' ignore missing %}{% raw %}{{ 1 % 2 }}{% endraw %}",
        "{{ a | default(1) }} {{ a.b.c }} {{ x is not none }} 100% {# 5 % 2 #}",
    ] {
        assert_eq!(rewrite(source, false), source);
    }
}

#[test]
fn errors_name_the_problem_not_the_rewrite() {
    let t = Templates::new(Vec::new());
    let v = vars();
    let err = |s: &str| t.render_str(s, &v).unwrap_err().to_string();
    assert!(
        err("x {{ '%d' % a }}").contains("'string' cannot be formatted in decimal format"),
        "{}",
        err("x {{ '%d' % a }}")
    );
    assert!(!err("x {{ '%d' % }}").contains(super::PERCENT_FN));
    assert_eq!(
        t.check_str("x {{ '%d' % }}").unwrap_err().to_string(),
        t.check_str("x {{ 5 * }}").unwrap_err().to_string()
    );
    assert!(err("{{ 5 % 'a' }}").contains("unsupported types number and string"));
}
