//! Lookups and `with_*` plugins; expected values are ansible-playbook 2.21's.

use serde_json::{Value as Json, json};

use crate::template::{Templates, Vars};

fn setup() -> (tempfile::TempDir, Templates, Vars) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::create_dir_all(base.join("templates")).unwrap();
    std::fs::create_dir_all(base.join("files/conf.d")).unwrap();
    std::fs::write(base.join("data.txt"), "line1\nline2\n").unwrap();
    std::fs::write(base.join("data2.txt"), "second\n").unwrap();
    std::fs::write(base.join("templates/tpl.j2"), "n={{ n }} a={{ a }}\n").unwrap();
    for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
        std::fs::write(base.join("files/conf.d").join(name), "x").unwrap();
    }
    std::fs::create_dir(base.join("files/conf.d/dir.conf")).unwrap();
    let templates = Templates::new(vec![base.join("templates"), base.to_path_buf()]);
    let vars = match json!({"n": 5, "a": "x"}) {
        Json::Object(map) => Vars::from(map),
        _ => unreachable!(),
    };
    (dir, templates, vars)
}

#[test]
fn lookups_give_what_ansible_gives() {
    let (dir, t, v) = setup();
    // SAFETY: tests in this module are the only readers of these names.
    unsafe {
        std::env::set_var("RTMIG_LOOKUP_T", "tee");
        std::env::set_var("RTMIG_LOOKUP_U", "uu");
    }
    let eval = |e: &str| {
        t.eval_expr(e, &v)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    };
    assert_eq!(eval("lookup('env', 'RTMIG_LOOKUP_T')"), json!("tee"));
    assert_eq!(
        eval("lookup('env', 'RTMIG_LOOKUP_T', 'RTMIG_LOOKUP_U')"),
        json!("tee,uu")
    );
    assert_eq!(
        eval("query('env', 'RTMIG_LOOKUP_T', 'RTMIG_LOOKUP_U')"),
        json!(["tee", "uu"])
    );
    assert_eq!(eval("lookup('env', 'RTMIG_LOOKUP_UNSET')"), json!(""));
    assert_eq!(eval("lookup('file', 'data.txt')"), json!("line1\nline2"));
    assert_eq!(eval("q('file', 'data.txt')"), json!(["line1\nline2"]));
    assert_eq!(
        eval("lookup('file', 'data.txt', 'data2.txt')"),
        json!("line1\nline2,second")
    );
    assert_eq!(eval("lookup('template', 'tpl.j2')"), json!("n=5 a=x\n"));
    assert_eq!(
        eval("lookup('pipe', 'echo hi; echo there')"),
        json!("hi\nthere")
    );
    assert_eq!(
        eval("lookup('pipe', 'pwd')"),
        json!(dir.path().to_string_lossy())
    );
    let conf = dir.path().join("files/conf.d");
    assert_eq!(
        eval("query('fileglob', 'conf.d/*.conf')"),
        json!([
            conf.join("a.conf").to_string_lossy(),
            conf.join("b.conf").to_string_lossy()
        ])
    );
    assert_eq!(eval("query('fileglob', 'nowhere/*')"), json!([]));
}

#[test]
fn lookup_errors_name_the_problem() {
    let (_dir, t, v) = setup();
    let err = |e: &str| t.eval_expr(e, &v).unwrap_err().to_string();
    assert!(err("lookup('file', 'gone.txt')").contains("could not locate file `gone.txt`"));
    assert!(err("lookup('pipe', 'exit 3')").contains("exited with 3"));
    assert!(err("lookup('nope', 'x')").contains("lookup plugin `nope` is not supported"));
    assert!(err("lookup('env', missing)").contains("`missing` is undefined"));
}

#[test]
fn loop_plugins_give_what_ansible_gives() {
    let (_dir, t, v) = setup();
    let eval = |e: &str| {
        t.eval_expr(e, &v)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    };
    assert_eq!(
        eval("query('sequence', 'start=1 end=5 format=%02d')"),
        json!(["01", "02", "03", "04", "05"])
    );
    assert_eq!(
        eval("query('sequence', 'start=0 end=10 stride=5')"),
        json!(["0", "5", "10"])
    );
    assert_eq!(eval("query('sequence', 'count=3')"), json!(["1", "2", "3"]));
    assert_eq!(
        eval("query('sequence', '4-8/2:host%d')"),
        json!(["host4", "host6", "host8"])
    );
    assert_eq!(
        eval("query('sequence', 'start=5 end=1 stride=-2')"),
        json!(["5", "3", "1"])
    );
    assert_eq!(
        eval("query('sequence', {'start': 1, 'end': 2})"),
        json!(["1", "2"])
    );
    assert_eq!(
        eval("query('dict', {'a': 1, 'b': 2})"),
        json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
    );
    assert_eq!(
        eval("query('items', 1, [2, [3]], 4)"),
        json!([1, 2, [3], 4])
    );
    assert_eq!(eval("query('list', 1, [2])"), json!([1, [2]]));
    assert_eq!(
        eval("query('together', [1, 2, 3], ['a', 'b'])"),
        json!([[1, "a"], [2, "b"], [3, null]])
    );
    assert_eq!(
        eval("query('nested', [1, 2], ['a', 'b'])"),
        json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]])
    );
    assert_eq!(
        eval("query('subelements', [{'n': 'u1', 'k': [1, 2]}, {'n': 'u2', 'k': [3]}], 'k')"),
        json!([[{"n": "u1"}, 1], [{"n": "u1"}, 2], [{"n": "u2"}, 3]])
    );
}

#[test]
fn the_subelements_filter_gives_the_lookups_pairs() {
    let (_dir, t, v) = setup();
    let eval = |e: &str| {
        t.eval_expr(e, &v)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    };
    assert_eq!(
        eval("[{'n': 'u1', 'k': [1, 2]}, {'n': 'u2'}] | subelements('k', skip_missing=True)"),
        json!([[{"n": "u1"}, 1], [{"n": "u1"}, 2]])
    );
    assert_eq!(
        eval("[{'n': 'u1', 'k': [1]}, {'n': 'u2'}] | subelements('k', True)"),
        json!([[{"n": "u1"}, 1]])
    );
}

/// A role `r` under a playbook dir: `vars/Debian.yml`, `tasks/debian.yml`,
/// `files/a.txt`, and the playbook's own `vars/common.yml`; the variables a task of
/// the role with `action` sees.
fn first_found_setup(action: &str) -> (tempfile::TempDir, Templates, Vars) {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path();
    let role = pb.join("roles/r");
    for (rel, body) in [
        ("roles/r/vars/Debian.yml", "a: 1\n"),
        ("roles/r/tasks/main.yml", "[]\n"),
        ("roles/r/tasks/debian.yml", "[]\n"),
        ("roles/r/files/a.txt", "x\n"),
        ("vars/common.yml", "b: 2\n"),
    ] {
        let p = pb.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let templates = Templates::new(vec![pb.join("templates"), pb.to_path_buf()]);
    let vars = match json!({
        "playbook_dir": pb.display().to_string(),
        "role_path": role.display().to_string(),
        "ansible_search_path": [role.display().to_string(), role.join("tasks").display().to_string()],
        super::first_found::ACTION_VAR: action,
        "os": "Debian",
    }) {
        Json::Object(map) => Vars::from(map),
        _ => unreachable!(),
    };
    (dir, templates, vars)
}

#[test]
fn first_found_searches_as_ansible_does() {
    let (dir, t, v) = first_found_setup("include_vars");
    let role = dir.path().join("roles/r");
    let eval = |e: &str| {
        t.eval_expr(e, &v)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    };
    let path = |p: std::path::PathBuf| json!(p.display().to_string());
    // include_vars: the role's vars/ first; the first name that exists wins.
    assert_eq!(
        eval("lookup('first_found', ['Ubuntu.yml', os ~ '.yml', 'common.yml'])"),
        path(role.join("vars/Debian.yml"))
    );
    // A name the role lacks falls back to the playbook's vars/.
    assert_eq!(
        eval("lookup('first_found', 'nope.yml', 'common.yml')"),
        path(dir.path().join("vars/common.yml"))
    );
    // `paths` joined with each file; a path already naming the subdir is not doubled.
    assert_eq!(
        eval("query('first_found', {'files': ['x.yml', 'Debian.yml'], 'paths': ['vars']})"),
        json!([role.join("vars/Debian.yml").display().to_string()])
    );
    // The deprecated comma split of a string term.
    assert_eq!(
        eval("lookup('first_found', 'x.yml,Debian.yml')"),
        path(role.join("vars/Debian.yml"))
    );
    // skip: nothing found is an empty list, not an error.
    assert_eq!(
        eval("query('first_found', {'files': ['x.yml'], 'skip': true})"),
        json!([])
    );
    assert_eq!(eval("query('first_found', 'x.yml', skip=True)"), json!([]));
    let err = t
        .eval_expr("lookup('first_found', ['x.yml', 'y.yml'])", &v)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("No file was found when using first_found"),
        "{err}"
    );
    // with_first_found is the same plugin.
    assert_eq!(
        t.query("first_found", vec![json!("Debian.yml")], &v)
            .unwrap(),
        json!([role.join("vars/Debian.yml").display().to_string()])
    );
}

#[test]
fn first_found_subdir_follows_the_action() {
    // include_tasks (and any action without template/var/file in its name) searches
    // files/, then the folder itself: the role's tasks/ through the task's own folder.
    let (dir, t, v) = first_found_setup("include_tasks");
    let role = dir.path().join("roles/r");
    assert_eq!(
        t.eval_expr("lookup('first_found', 'debian.yml')", &v)
            .unwrap(),
        json!(role.join("tasks/debian.yml").display().to_string())
    );
    assert_eq!(
        t.eval_expr("lookup('first_found', 'a.txt')", &v).unwrap(),
        json!(role.join("files/a.txt").display().to_string())
    );
    // include_vars does not look in files/.
    let (_dir, t, v) = first_found_setup("include_vars");
    assert!(t.eval_expr("lookup('first_found', 'a.txt')", &v).is_err());
}

/// `errors=`: `ignore` and `warn` turn a failed lookup into none (`lookup`) or an empty
/// list (`query`), as ansible-playbook 2.21 renders `[{{ lookup('file', missing,
/// errors='ignore') }}]` to `[]`; `strict` (the default) fails; an unknown plugin, an
/// undefined term and an unknown `errors` value fail whatever it says.
#[test]
fn lookup_errors_ignore_and_warn_give_none_strict_fails() {
    let (_dir, t, v) = setup();
    let eval = |e: &str| t.eval_expr(e, &v);
    for policy in ["ignore", "warn"] {
        assert_eq!(
            eval(&format!("lookup('file', 'missing.txt', errors='{policy}')")).unwrap(),
            Json::Null
        );
        assert_eq!(
            eval(&format!("query('file', 'missing.txt', errors='{policy}')")).unwrap(),
            json!([])
        );
    }
    assert_eq!(
        t.render_str("[{{ lookup('file', 'missing.txt', errors='ignore') }}]", &v)
            .unwrap(),
        "[]"
    );
    assert_eq!(
        eval("lookup('file', 'data2.txt', errors='ignore')").unwrap(),
        json!("second")
    );
    for bad in [
        "lookup('file', 'missing.txt')",
        "lookup('file', 'missing.txt', errors='strict')",
        "lookup('file', 'missing.txt', errors='loud')",
        "lookup('nosuchplugin', 'x', errors='ignore')",
        "lookup('file', nosuchvar, errors='ignore')",
    ] {
        assert!(eval(bad).is_err(), "{bad} did not fail");
    }
}
