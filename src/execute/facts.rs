//! `gather_facts`: a small fact set — hostname, OS release, kernel, CPUs, memory, disk
//! free — gathered with one remote command and named as Ansible names them.

use serde_json::{Map, Value, json};

use super::remote::Remote;
use crate::transport::TransportError;

/// One POSIX sh script; prints `key=value` lines. Reads only /proc, /etc/os-release, df.
const SCRIPT: &str = r#"echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname)"
echo "kernel=$(uname -r)"
echo "machine=$(uname -m)"
echo "system=$(uname -s)"
echo "nproc=$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
awk '/^MemTotal:/ {print "memtotal_kb=" $2} /^MemAvailable:/ {print "memavail_kb=" $2}' /proc/meminfo
if [ -r /etc/os-release ]; then . /etc/os-release; echo "os_id=$ID"; echo "os_version=$VERSION_ID"; echo "os_name=$NAME"; echo "os_codename=${VERSION_CODENAME:-}"; fi
if [ -r /etc/debian_version ]; then echo "debian_version=$(cat /etc/debian_version)"; fi
df -Pk / /var/lib 2>/dev/null | awk 'NR>1 {print "disk=" $6 " " $2 " " $4}'
"#;

pub async fn gather(remote: &Remote<'_>) -> Result<Map<String, Value>, TransportError> {
    let out = remote.run(SCRIPT).await?;
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Turn the script's output into Ansible-style facts: both the `ansible_facts` dict and
/// the top-level `ansible_*` names playbooks use.
pub fn parse(text: &str) -> Map<String, Value> {
    let mut raw: Vec<(&str, &str)> = Vec::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            raw.push((k, v));
        }
    }
    let get = |k: &str| {
        raw.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let num = |k: &str| get(k).trim().parse::<u64>().unwrap_or(0);
    let version = distribution_version(&get("os_id"), &get("os_version"), &get("debian_version"));
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default().to_string();
    let minor = parts.next().map(str::to_string);
    let mounts: Vec<Value> = raw
        .iter()
        .filter(|(k, _)| *k == "disk")
        .filter_map(|(_, v)| {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let [mount, size_kb, avail_kb] = parts.as_slice() else {
                return None;
            };
            Some(json!({
                "mount": mount,
                "size_total": size_kb.parse::<u64>().unwrap_or(0) * 1024,
                "size_available": avail_kb.parse::<u64>().unwrap_or(0) * 1024,
            }))
        })
        .collect();
    let facts = json!({
        "hostname": get("hostname"),
        "fqdn": get("fqdn"),
        "kernel": get("kernel"),
        "architecture": get("machine"),
        "processor_vcpus": num("nproc"),
        "memtotal_mb": num("memtotal_kb") / 1024,
        "memfree_mb": num("memavail_kb") / 1024,
        "distribution": get("os_name").split_whitespace().next().unwrap_or_default(),
        "distribution_version": version,
        "distribution_release": get("os_codename"),
        "distribution_major_version": major,
        "system": get("system"),
        "os_family": os_family(&get("os_id")),
        "mounts": mounts,
    });
    let mut facts = facts;
    if let (Some(minor), Value::Object(f)) = (minor, &mut facts) {
        f.insert("distribution_minor_version".into(), json!(minor));
    }
    let mut out = Map::new();
    if let Value::Object(f) = &facts {
        for (k, v) in f {
            out.insert(format!("ansible_{k}"), v.clone());
        }
    }
    out.insert("ansible_facts".into(), facts);
    out
}

/// `ansible_distribution_version` as Ansible's setup gives it: os-release's
/// `VERSION_ID`, except on Debian, where /etc/debian_version has the point release
/// (`12.11` where VERSION_ID says `12`; testing's `trixie/sid` is not a version).
fn distribution_version(id: &str, version_id: &str, debian_version: &str) -> String {
    let point = debian_version.trim();
    let numeric = !point.is_empty()
        && point
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if id == "debian" && numeric {
        point.to_string()
    } else {
        version_id.to_string()
    }
}

fn os_family(id: &str) -> &'static str {
    match id {
        "debian" | "ubuntu" => "Debian",
        "centos" | "rhel" | "rocky" | "almalinux" | "fedora" | "ol" | "tencentos"
        | "opencloudos" => "RedHat",
        "sles" | "opensuse-leap" => "Suse",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::shell::Become;
    use crate::transport::local::LocalTransport;

    #[test]
    fn parses_the_script_output() {
        let f = parse(
            "hostname=node1\nkernel=6.1.0\nnproc=4\nmemtotal_kb=2048000\nos_id=debian\nos_name=Debian GNU/Linux\nos_version=12\ndisk=/ 1000 500\n",
        );
        assert_eq!(f["ansible_hostname"], "node1");
        assert_eq!(f["ansible_processor_vcpus"], 4);
        assert_eq!(f["ansible_memtotal_mb"], 2000);
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_facts"]["mounts"][0]["size_available"], 512_000);
    }

    /// As ansible-playbook 2.21's setup on Debian 12.11: version `12.11`, major `12`,
    /// minor `11` (os-release alone says `12`); Ubuntu keeps VERSION_ID (its
    /// /etc/debian_version names a Debian codename), and so does a Debian testing.
    #[test]
    fn debian_versions_come_from_debian_version_as_ansibles_do() {
        let base = "os_id=debian\nos_name=Debian GNU/Linux\nos_version=12\n";
        let f = parse(&format!("{base}debian_version=12.11\n"));
        assert_eq!(f["ansible_distribution_version"], "12.11");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_distribution_minor_version"], "11");
        let f = parse(&format!("{base}debian_version=trixie/sid\n"));
        assert_eq!(f["ansible_distribution_version"], "12");
        assert!(f.get("ansible_distribution_minor_version").is_none());
        let f =
            parse("os_id=ubuntu\nos_name=Ubuntu\nos_version=22.04\ndebian_version=bookworm/sid\n");
        assert_eq!(f["ansible_distribution_version"], "22.04");
        assert_eq!(f["ansible_distribution_major_version"], "22");
        assert_eq!(f["ansible_distribution_minor_version"], "04");
    }

    #[tokio::test]
    async fn gathers_from_a_real_shell() {
        let t = LocalTransport;
        let r = Remote {
            host: "l",
            transport: &t,
            privilege: Become::default(),
            login_user: None,
            timeout: None,
            on_command: &|_| {},
        };
        let f = gather(&r).await.unwrap();
        assert!(f["ansible_processor_vcpus"].as_u64().unwrap() >= 1);
        assert!(!f["ansible_kernel"].as_str().unwrap().is_empty());
    }
}
