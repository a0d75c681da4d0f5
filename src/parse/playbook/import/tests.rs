//! Imports and roles read from files on disk: spliced tasks keep their own locations,
//! keywords are inherited, and every bad import is an error at its place.

use std::path::Path;

use crate::parse::playbook::{Action, Playbook, Task, load};

/// A folder of files, `(relative path, text)`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn ok(dir: &Path) -> Playbook {
    match load(&dir.join("site.yml")) {
        Ok(p) => p,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// The errors with the folder's path cut off.
fn errors(dir: &Path) -> String {
    match load(&dir.join("site.yml")) {
        Ok(p) => panic!("expected errors, parsed {p:#?}"),
        Err(e) => e
            .to_string()
            .replace(&format!("{}/", dir.display()), "")
            .replace(&dir.display().to_string(), "DIR"),
    }
}

fn names(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.display_name()).collect()
}

fn file_line(t: &Task, dir: &Path) -> String {
    let file = t
        .location
        .file
        .strip_prefix(dir)
        .unwrap_or(&t.location.file)
        .display()
        .to_string();
    format!("{file}:{}:{}", t.location.line, t.location.column)
}

#[test]
fn import_tasks_splices_tasks_with_their_own_locations_and_the_import_keywords() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all
  tasks:
    - name: first
      debug: msg=1
    - import_tasks: tasks/a.yml
      when: x is defined
      tags: [imp]
      become: true
      vars: {v: 1, w: 1}
    - name: last
      debug: msg=3
",
        ),
        (
            "tasks/a.yml",
            "- name: a1
  debug: msg=a
  vars: {w: 2}
- import_tasks: b.yml
",
        ),
        // Found beside the importing file first, as Ansible does.
        (
            "tasks/b.yml",
            "- name: b in tasks\n  debug: msg=b\n  when: yy\n",
        ),
        ("b.yml", "- name: b at the top\n  debug: msg=b\n"),
    ]);
    let pb = ok(d.path());
    let tasks = &pb.plays[0].tasks;
    assert_eq!(names(tasks), ["first", "a1", "b in tasks", "last"]);
    assert_eq!(file_line(&tasks[1], d.path()), "tasks/a.yml:1:3");
    assert_eq!(file_line(&tasks[2], d.path()), "tasks/b.yml:1:3");
    let b = &tasks[2];
    let when: Vec<&str> = b.when.iter().map(|w| w.value.as_str()).collect();
    assert_eq!(when, ["x is defined", "yy"]);
    assert_eq!(b.tags, ["imp"]);
    assert_eq!(b.become_, Some(true));
    // The task's own vars win over the import's.
    assert_eq!(tasks[1].vars["w"].value, serde_json::json!(2));
    assert_eq!(tasks[1].vars["v"].value, serde_json::json!(1));
    assert!(tasks[3].when.is_empty() && tasks[3].become_.is_none());
}

#[test]
fn an_import_falls_back_to_the_playbook_folder() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - ansible.builtin.import_tasks: tasks/a.yml\n",
        ),
        ("tasks/a.yml", "- import_tasks: b.yml\n"),
        ("b.yml", "- name: b at the top\n  debug: msg=b\n"),
    ]);
    assert_eq!(names(&ok(d.path()).plays[0].tasks), ["b at the top"]);
}

#[test]
fn a_missing_tasks_file_is_an_error_at_the_import() {
    let d = tree(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: nope.yml\n",
    )]);
    let e = errors(d.path());
    assert!(
        e.starts_with("site.yml:3:21: `import_tasks`: file `nope.yml` not found"),
        "{e}"
    );
}

#[test]
fn a_file_importing_itself_is_an_error_not_a_stack_overflow() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
        ),
        ("a.yml", "- debug: msg=a\n- import_tasks: b.yml\n"),
        ("b.yml", "- import_tasks: a.yml\n"),
    ]);
    let e = errors(d.path());
    assert_eq!(
        e.lines().next().unwrap_or_default(),
        "b.yml:1:17: `a.yml` is imported into itself (a.yml -> b.yml -> a.yml): the import never ends"
    );
    let d = tree(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: site.yml\n",
    )]);
    assert!(errors(d.path()).contains("is imported into itself"));
}

#[test]
fn an_import_cannot_loop_and_errors_in_the_imported_file_are_located_there() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n      loop: [1]\n",
        ),
        ("a.yml", "- name: bad\n  shel: echo\n"),
    ]);
    let e = errors(d.path());
    assert!(
        e.contains("site.yml:4:7: `loop` is not supported: an import is static"),
        "{e}"
    );
    assert!(
        e.contains("a.yml:2:3: unknown action or task keyword `shel`"),
        "{e}"
    );
}

const ROLE_WEB: &[(&str, &str)] = &[
    (
        "roles/web/tasks/main.yml",
        "- name: web task\n  template: {src: page.j2, dest: /tmp/page}\n- import_tasks: extra.yml\n",
    ),
    (
        "roles/web/tasks/extra.yml",
        "- name: web extra\n  copy: {src: blob, dest: /tmp/blob}\n",
    ),
    (
        "roles/web/tasks/other.yml",
        "- name: web other\n  debug: msg=o\n",
    ),
    ("roles/web/templates/page.j2", "{{ port }}\n"),
    ("roles/web/files/blob", "blob\n"),
    ("roles/web/defaults/main.yml", "port: 80\ncolour: blue\n"),
    ("roles/web/vars/main.yml", "colour: red\n"),
    (
        "roles/web/meta/main.yml",
        "galaxy_info: {author: x}\ndependencies:\n  - role: base\n    base_msg: hi\n",
    ),
    (
        "roles/base/tasks/main.yaml",
        "- name: base task\n  debug: msg={{ base_msg }}\n",
    ),
];

fn with_site(site: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(&str, &str)> = vec![("site.yml", site)];
    files.extend_from_slice(ROLE_WEB);
    files.extend_from_slice(extra);
    tree(&files)
}

#[test]
fn roles_run_after_pre_tasks_with_dependencies_first_and_files_found_in_the_role() {
    let d = with_site(
        "- hosts: all
  pre_tasks: [{name: pre, debug: msg=p}]
  roles:
    - {role: web, tags: [w], when: go, port: 8080}
    - web
  tasks: [{name: main, debug: msg=m}]
",
        &[],
    );
    let pb = ok(d.path());
    let play = &pb.plays[0];
    // `web` twice with different parameters runs twice; `base` (same parameters) once.
    assert_eq!(
        names(&play.tasks),
        [
            "pre",
            "base task",
            "web task",
            "web extra",
            "web task",
            "web extra",
            "main"
        ]
    );
    let web = &play.tasks[2];
    assert_eq!(web.tags, ["w"]);
    assert_eq!(web.when[0].value, "go");
    assert_eq!(web.vars["colour"].value, serde_json::json!("red"));
    assert_eq!(web.vars["port"].value, serde_json::json!(8080));
    let role = web.role.as_ref().expect("role");
    assert_eq!(role.name, "web");
    assert_eq!(role.defaults["port"].value, serde_json::json!(80));
    let Action::Template(t) = &web.action else {
        panic!("{:?}", web.action)
    };
    assert!(
        t.src_path
            .as_ref()
            .is_some_and(|p| p.ends_with("roles/web/templates/page.j2"))
    );
    let Action::Copy(c) = &play.tasks[3].action else {
        panic!()
    };
    assert!(
        matches!(&c.source, crate::parse::playbook::CopySource::Src { src_path: Some(p), .. } if p.ends_with("roles/web/files/blob"))
    );
    assert_eq!(
        play.tasks[1].vars["base_msg"].value,
        serde_json::json!("hi")
    );
    assert_eq!(
        play.tasks[1].role.as_ref().map(|r| r.name.as_str()),
        Some("base")
    );
    assert!(play.tasks[6].role.is_none());
    assert_eq!(play.role_defaults["port"].value, serde_json::json!(80));
    assert_eq!(play.role_vars["colour"].value, serde_json::json!("red"));
}

#[test]
fn a_role_runs_once_per_play_unless_it_allows_duplicates() {
    let d = with_site("- hosts: all\n  roles: [web, web]\n", &[]);
    assert_eq!(ok(d.path()).plays[0].tasks.len(), 3);
    let d = with_site(
        "- hosts: all\n  roles: [base, base]\n",
        &[("roles/base/meta/main.yml", "allow_duplicates: true\n")],
    );
    assert_eq!(
        names(&ok(d.path()).plays[0].tasks),
        ["base task", "base task"]
    );
}

#[test]
fn import_role_takes_tasks_from_and_the_task_keywords() {
    let d = with_site(
        "- hosts: all
  tasks:
    - import_role:
        name: web
        tasks_from: other
      when: z
",
        &[],
    );
    let pb = ok(d.path());
    assert_eq!(names(&pb.plays[0].tasks), ["base task", "web other"]);
    assert_eq!(pb.plays[0].tasks[1].when[0].value, "z");
}

#[test]
fn unknown_roles_handlers_and_recursive_dependencies_are_located_errors() {
    let d = with_site("- hosts: all\n  roles:\n    - nosuch\n", &[]);
    let e = errors(d.path());
    assert!(
        e.starts_with("site.yml:3:7: role `nosuch` not found (looked in `roles`"),
        "{e}"
    );
    // A role's handlers (here a dependency's) join the play's, before its own; a
    // notify naming none of them is located.
    let d = with_site(
        "- hosts: all\n  roles: [web]\n  tasks:\n    - {debug: msg=x, notify: [h, own]}\n  handlers:\n    - {name: own, debug: msg=own}\n",
        &[(
            "roles/base/handlers/main.yml",
            "- name: h\n  debug: msg=h\n",
        )],
    );
    let pb = ok(d.path());
    assert_eq!(names(&pb.plays[0].handlers), ["h", "own"]);
    assert_eq!(
        pb.plays[0].handlers[0]
            .role
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("base")
    );
    let d = with_site(
        "- hosts: all\n  roles: [web]\n  tasks:\n    - {debug: msg=x, notify: nosuch}\n",
        &[(
            "roles/base/handlers/main.yml",
            "- name: h\n  debug: msg=h\n",
        )],
    );
    let e = errors(d.path());
    assert!(
        e.contains("site.yml:4:30: handler `nosuch` not found"),
        "{e}"
    );
    let d = with_site(
        "- hosts: all\n  roles: [base]\n",
        &[("roles/base/meta/main.yml", "dependencies: [base]\n")],
    );
    let e = errors(d.path());
    assert!(
        e.contains("roles/base/meta/main.yml:1:16:") && e.contains("imported into itself"),
        "{e}"
    );
}

#[test]
fn import_playbook_splices_plays_read_from_their_own_folder() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks: [{name: one, debug: msg=1}]\n- import_playbook: sub/more.yml\n  tags: [more]\n",
        ),
        (
            "sub/more.yml",
            "- name: more\n  hosts: all\n  vars_files: [v.yml]\n  tasks:\n    - name: two\n      template: {src: t.j2, dest: /tmp/t}\n",
        ),
        ("sub/v.yml", "a: 1\n"),
        ("sub/templates/t.j2", "x\n"),
    ]);
    let pb = ok(d.path());
    assert_eq!(pb.plays.len(), 2);
    assert_eq!(pb.plays[1].name, "more");
    assert_eq!(pb.plays[1].tags, ["more"]);
    assert!(pb.plays[1].dir.ends_with("sub"));
    assert_eq!(pb.plays[1].vars["a"].value, serde_json::json!(1));
    let d = tree(&[("site.yml", "- import_playbook: site.yml\n")]);
    assert!(errors(d.path()).contains("site.yml:1:20: `site.yml` is imported into itself"));
}

#[test]
fn include_tasks_is_followed_by_its_tasks_read_now() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all
  tasks:
    - name: inc
      include_tasks: a.yml
      loop: [1, 2]
      vars: {v: 1}
      when: go
    - name: after
      debug: msg=x
",
        ),
        (
            "a.yml",
            "- name: a1\n  debug: msg=a\n- include_role: {name: r}\n",
        ),
        ("roles/r/tasks/main.yml", "- name: r1\n  debug: msg=r\n"),
    ]);
    let pb = ok(d.path());
    let tasks = &pb.plays[0].tasks;
    assert_eq!(names(tasks), ["inc", "a1", "include_role", "r1", "after"]);
    let Action::Include(inc) = &tasks[0].action else {
        panic!("{:?}", tasks[0].action)
    };
    assert_eq!(inc.span, 3);
    assert!(tasks[0].loop_.is_some());
    // The include's `when` is its own (decided at run time), its vars its tasks' too.
    assert!(tasks[1].when.is_empty());
    assert_eq!(tasks[1].vars["v"].value, serde_json::json!(1));
    let Action::Include(role) = &tasks[2].action else {
        panic!()
    };
    assert_eq!(role.span, 1);
    assert!(!role.public);
    assert!(pb.plays[0].role_defaults.is_empty());
}

#[test]
fn include_errors_are_located_before_the_run() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all
  tasks:
    - include_tasks: nope.yml
    - include_tasks: \"{{ f }}.yml\"
    - include_tasks: bad.yml
    - include_role: {name: nosuch}
",
        ),
        ("bad.yml", "- debug: {nope: 1}\n"),
    ]);
    let e = errors(d.path());
    assert!(
        e.contains("site.yml:3:22: `include_tasks`: file `nope.yml` not found"),
        "{e}"
    );
    // A templated name is rendered at run time: no error now.
    assert!(!e.contains("site.yml:4:"), "{e}");
    assert!(e.contains("site.yml:6:28: role `nosuch` not found"), "{e}");
    assert!(
        e.contains("bad.yml:1:11: unknown argument of `debug` `nope`"),
        "{e}"
    );
}

#[test]
fn include_vars_reads_a_literal_file_now_and_leaves_a_templated_one_for_the_run() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all
  tasks:
    - include_vars: v.yml
    - include_vars: {file: \"{{ f }}.yml\", name: nest}
    - include_vars: nope.yml
",
        ),
        ("vars/v.yml", "a: 1\n"),
    ]);
    let e = errors(d.path());
    assert_eq!(
        e.trim(),
        "site.yml:5:21: `include_vars`: file `nope.yml` not found"
    );
    std::fs::write(d.path().join("site.yml"), "- hosts: all\n  tasks:\n    - include_vars: v.yml\n    - include_vars: {file: \"{{ f }}.yml\", name: nest}\n").expect("write");
    let pb = ok(d.path());
    let Action::IncludeVars(i) = &pb.plays[0].tasks[0].action else {
        panic!()
    };
    assert_eq!(
        i.vars.as_ref().map(|v| v["a"].value.clone()),
        Some(serde_json::json!(1))
    );
    let Action::IncludeVars(i) = &pb.plays[0].tasks[1].action else {
        panic!()
    };
    assert!(i.vars.is_none());
    assert_eq!(i.name.as_deref(), Some("nest"));
}

#[test]
fn a_templated_include_reads_each_file_it_may_name_as_a_variant() {
    let d = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_tasks: \"{{ os }}.yml\"\n    - name: after\n      debug: msg=x\n",
        ),
        (
            "Debian.yml",
            "- name: d1\n  debug: msg=d\n- name: d2\n  debug: msg=d\n",
        ),
        ("Other.yml", "- name: o1\n  nosuchmodule: {}\n"),
    ]);
    // Other.yml's problem stays with its variant: the playbook loads.
    let pb = ok(d.path());
    let tasks = &pb.plays[0].tasks;
    let Action::Include(inc) = &tasks[0].action else {
        panic!("{:?}", tasks[0].action)
    };
    // Debian.yml's include and its two tasks, Other.yml's include (no tasks).
    assert_eq!(inc.span, 4);
    assert!(inc.variant.is_none());
    assert!(!inc.search.is_empty());
    let variant = |t: &Task| match &t.action {
        Action::Include(i) => i.variant.clone(),
        _ => None,
    };
    let debian = variant(&tasks[1]).expect("a variant");
    assert!(debian.path.ends_with("Debian.yml"));
    assert!(debian.errors.is_empty());
    assert_eq!(names(&tasks[2..4]), ["d1", "d2"]);
    let other = variant(&tasks[4]).expect("a variant");
    assert!(other.path.ends_with("Other.yml"));
    assert!(
        other.errors.iter().any(|e| e.contains("Other.yml:2:3")),
        "{:?}",
        other.errors
    );
    assert_eq!(names(&tasks[5..]), ["after"]);
}
