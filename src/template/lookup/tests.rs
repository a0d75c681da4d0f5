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
