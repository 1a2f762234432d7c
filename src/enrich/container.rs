//! `container.id` from a process's cgroup: the one place that knows how container runtimes name the
//! cgroups they put containers in.
//!
//! Every runtime puts a container in a cgroup whose name carries its id, so the id comes from names
//! the kernel already keeps, with no call to a runtime's API (which may be absent, slow, or lie). The
//! kernel side cheaply reads only the task's default-hierarchy cgroup name and its parent's name, so
//! [`container_id`] works from those two; [`container_id_from_proc_cgroup`] does the same for a whole
//! `/proc/PID/cgroup` (the start-up scan of what already runs).
//!
//! Recognised cgroup names (`<id>` is 64 hex digits, returned lowercase):
//! - Docker: `docker-<id>.scope` (systemd driver), `<id>` under `/docker/` (cgroupfs driver, v1/v2);
//! - containerd / CRI: `cri-containerd-<id>.scope` (systemd driver, e.g. under
//!   `kubepods-burstable-pod<uid>.slice`), `<id>` under `/kubepods/<qos>/pod<uid>/` (cgroupfs driver),
//!   nerdctl's `nerdctl-<id>.scope`;
//! - CRI-O: `crio-<id>.scope` (`crio-conmon-<id>.scope` is the host-side monitor: not a container);
//! - podman: `libpod-<id>.scope`, `libpod-<id>` under `/libpod_parent/` (cgroupfs driver)
//!   (`libpod-conmon-<id>.scope` is the monitor: not a container);
//! - any cgroup named exactly `<id>` (custom `--cgroup-parent`, containerd namespaces);
//! - systemd machines (systemd-nspawn, libvirt): `machine-<name>.scope` gives `<name>` with systemd's
//!   `\xHH` escapes decoded (`machine-my\x2dbox.scope` → `my-box`); its `supervisor` child is the
//!   host-side nspawn process: not a container;
//! - LXC / LXD: `lxc.payload.<name>` (v2; `lxc.monitor.<name>` is the monitor: not a container) and
//!   `<name>` under `/lxc/` (v1).
//!
//! Names (machines, LXC) are returned as the runtime spells them, not lowercased: `machinectl` and
//! `lxc-ls` names are case-sensitive, so a lowercased one would not match them.
//!
//! A process in a cgroup below its container's (systemd or crun inside the container made one, e.g.
//! `libpod-<id>.scope/container`) is recognised one level down from two names, any depth down from a
//! full path (two names cannot see `/lxc/<name>/<inner>` or `lxc.payload.<name>/system.slice/<unit>`). A cgroup name is a claim, not a proof: whoever may create cgroups (root, or a user in a
//! subtree systemd delegated to them) can name one like a container. That is what the field means:
//! "in a cgroup named as container X's", as every cgroup-based monitor reports it.

/// What one cgroup name says about the processes in it.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A container's own cgroup: its id or name.
    Container(String),
    /// A runtime's host-side helper (conmon, an nspawn supervisor, an LXC monitor): not in a
    /// container, whatever its parent is.
    Helper,
    /// Says nothing: a host cgroup, or a container's inner cgroup whose parent may say more.
    Unknown,
}

/// The container id of a process whose cgroup is `cgroup_leaf`, a child of `cgroup_parent` (the
/// kernfs names of the task's default-hierarchy cgroup and of its parent; empty for the root).
/// `None` on the host.
pub fn container_id(cgroup_leaf: &[u8], cgroup_parent: &[u8]) -> Option<String> {
    match classify(cgroup_leaf, cgroup_parent) {
        Kind::Container(id) => Some(id),
        Kind::Helper => None,
        // An inner cgroup of a container: the parent's own parent is not known here, which only
        // matters for LXC v1's `/lxc/<name>/<inner>`.
        Kind::Unknown => match classify(cgroup_parent, b"") {
            Kind::Container(id) => Some(id),
            Kind::Helper | Kind::Unknown => None,
        },
    }
}

/// The container id from the text of `/proc/PID/cgroup` (lines `hierarchy-ID:controllers:path`,
/// cgroup v1 and v2 alike). The deepest container-named cgroup on a path wins (the inner container
/// of a nested one); the first line naming one wins (the v2 line and the v1 lines of a hybrid host
/// name the same container). `None` on the host.
pub fn container_id_from_proc_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_hierarchy, _controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        container_in_path(path)
    })
}

/// The innermost container named on one cgroup path, stopping at a runtime's helper.
fn container_in_path(path: &str) -> Option<String> {
    let parts: Vec<&[u8]> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::as_bytes)
        .collect();
    for i in (0..parts.len()).rev() {
        let parent = if i == 0 { &b""[..] } else { parts[i - 1] };
        match classify(parts[i], parent) {
            Kind::Container(id) => return Some(id),
            Kind::Helper => return None,
            Kind::Unknown => {}
        }
    }
    None
}

/// Unit-name prefixes whose `<prefix><64 hex>.scope` is a container (systemd cgroup driver).
const HEX_SCOPES: &[&[u8]] = &[
    b"docker-",
    b"cri-containerd-",
    b"crio-",
    b"libpod-",
    b"nerdctl-",
];

/// Unit-name prefixes of runtimes' host-side monitors, checked before [`HEX_SCOPES`] because they
/// share a prefix with them.
const HELPER_PREFIXES: &[&[u8]] = &[b"crio-conmon-", b"libpod-conmon-", b"lxc.monitor."];

fn classify(name: &[u8], parent: &[u8]) -> Kind {
    if HELPER_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Kind::Helper;
    }
    if let Some(id) = hex_id(name) {
        return Kind::Container(id);
    }
    let unit = name.strip_suffix(b".scope");
    for prefix in HEX_SCOPES {
        if let Some(id) = unit.and_then(|u| u.strip_prefix(*prefix)).and_then(hex_id) {
            return Kind::Container(id);
        }
    }
    // podman's cgroupfs driver: `/libpod_parent/libpod-<id>`, no `.scope`.
    if let Some(id) = name.strip_prefix(b"libpod-").and_then(hex_id) {
        return Kind::Container(id);
    }
    if let Some(machine) = unit.and_then(|u| u.strip_prefix(b"machine-")) {
        if !machine.is_empty() {
            return Kind::Container(unescape_unit(machine));
        }
    }
    // systemd-nspawn (v250+) splits its scope into `payload` (the container) and `supervisor`.
    if name == b"supervisor" && is_machine_scope(parent) {
        return Kind::Helper;
    }
    if let Some(lxc) = name.strip_prefix(b"lxc.payload.") {
        if !lxc.is_empty() {
            return Kind::Container(String::from_utf8_lossy(lxc).into_owned());
        }
    }
    if parent == b"lxc" && !name.is_empty() {
        return Kind::Container(String::from_utf8_lossy(name).into_owned());
    }
    Kind::Unknown
}

fn is_machine_scope(name: &[u8]) -> bool {
    name.strip_suffix(b".scope")
        .and_then(|u| u.strip_prefix(b"machine-"))
        .is_some_and(|m| !m.is_empty())
}

/// `s` as a lowercase id if it is exactly 64 hex digits (a full container id).
fn hex_id(s: &[u8]) -> Option<String> {
    (s.len() == 64 && s.iter().all(u8::is_ascii_hexdigit))
        .then(|| String::from_utf8_lossy(s).to_ascii_lowercase())
}

/// Decodes systemd's unit-name escapes (`\x2d` for `-`, …); anything else is kept as it is.
fn unescape_unit(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            let hex = s
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b1c9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170605f4e3";
    const ID_UPPER: &str = "3F2B1C9A8E7D6C5B4A39281706F5E4D3C2B1A09F8E7D6C5B4A3928170605F4E3";
    const POD: &str = "pod6b1e8f2a-4c3d-4e5f-9a8b-7c6d5e4f3a2b";
    const POD_SYSTEMD: &str = "pod6b1e8f2a_4c3d_4e5f_9a8b_7c6d5e4f3a2b";

    /// (cgroup path, expected container id): real-looking paths of every runtime and of the host.
    fn cases() -> Vec<(String, Option<String>)> {
        let id = || Some(ID.to_string());
        let name = |n: &str| Some(n.to_string());
        vec![
            // Docker
            (format!("/docker/{ID}"), id()),
            (format!("/system.slice/docker-{ID}.scope"), id()),
            (format!("/docker/{ID_UPPER}"), id()),
            (
                format!("/user.slice/user-1000.slice/user@1000.service/docker-{ID}.scope"),
                id(),
            ),
            // Docker in Docker: the inner container.
            (
                format!("/docker/{}/docker/{ID}", "a".repeat(64)),
                id(),
            ),
            // containerd / CRI, systemd driver
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{POD_SYSTEMD}.slice/cri-containerd-{ID}.scope"
                ),
                id(),
            ),
            (
                format!("/kubepods.slice/kubepods-{POD_SYSTEMD}.slice/cri-containerd-{ID}.scope"),
                id(),
            ),
            // containerd / CRI, cgroupfs driver
            (format!("/kubepods/besteffort/{POD}/{ID}"), id()),
            (format!("/kubepods/{POD}/{ID}"), id()),
            (format!("/system.slice/nerdctl-{ID}.scope"), id()),
            (format!("/default/{ID}"), id()),
            // Docker as the kubelet's runtime (cri-dockerd)
            (
                format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{POD_SYSTEMD}.slice/docker-{ID}.scope"),
                id(),
            ),
            // CRI-O
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{POD_SYSTEMD}.slice/crio-{ID}.scope"),
                id(),
            ),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{POD_SYSTEMD}.slice/crio-conmon-{ID}.scope"),
                None,
            ),
            (format!("/machine.slice/crio-{ID}.scope"), id()),
            // podman
            (format!("/machine.slice/libpod-{ID}.scope"), id()),
            (format!("/machine.slice/libpod-{ID}.scope/container"), id()),
            (format!("/machine.slice/libpod-conmon-{ID}.scope"), None),
            (
                format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
                id(),
            ),
            (format!("/libpod_parent/libpod-{ID}"), id()),
            // systemd-nspawn and other machines
            ("/machine.slice/machine-debian.scope".into(), name("debian")),
            ("/machine.slice/machine-debian.scope/payload".into(), name("debian")),
            ("/machine.slice/machine-debian.scope/supervisor".into(), None),
            (
                r"/machine.slice/machine-build\x2dbox.scope".into(),
                name("build-box"),
            ),
            ("/machine.slice/machine-Fedora39.scope".into(), name("Fedora39")),
            // LXC / LXD
            ("/lxc/web01".into(), name("web01")),
            ("/lxc/web01/init.scope".into(), name("web01")),
            ("/lxc.payload.web01".into(), name("web01")),
            ("/lxc.payload.web01/system.slice/nginx.service".into(), name("web01")),
            ("/lxc.payload.web01/init.scope".into(), name("web01")),
            ("/lxc.monitor.web01".into(), None),
            // The host
            ("/".into(), None),
            ("".into(), None),
            ("/init.scope".into(), None),
            ("/system.slice/sshd.service".into(), None),
            ("/system.slice/docker.service".into(), None),
            ("/system.slice/containerd.service".into(), None),
            ("/system.slice/crio.service".into(), None),
            ("/user.slice/user-1000.slice/session-3.scope".into(), None),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-2131.scope"
                    .into(),
                None,
            ),
            ("/machine.slice".into(), None),
            ("/kubepods.slice/kubepods-burstable.slice".into(), None),
            (format!("/kubepods/besteffort/{POD}"), None),
            ("/lxc".into(), None),
            // Near misses: too short, not hex, no `.scope`, empty names.
            (format!("/system.slice/docker-{}.scope", &ID[..63]), None),
            (format!("/docker/{}g", &ID[..63]), None),
            (format!("/docker/{ID}0"), None),
            (format!("/system.slice/docker-{ID}.service"), None),
            (format!("/system.slice/crio-{ID}"), None),
            ("/machine.slice/machine-.scope".into(), None),
            ("/lxc.payload.".into(), None),
        ]
    }

    fn leaf_and_parent(path: &str) -> (&[u8], &[u8]) {
        let mut parts = path.rsplit('/').filter(|p| !p.is_empty());
        let leaf = parts.next().unwrap_or("");
        let parent = parts.next().unwrap_or("");
        (leaf.as_bytes(), parent.as_bytes())
    }

    #[test]
    fn v2_lines_of_every_runtime() {
        for (path, want) in cases() {
            let text = format!("0::{path}\n");
            assert_eq!(container_id_from_proc_cgroup(&text), want, "{path}");
        }
    }

    /// Processes two cgroups below their container's: only a full path reaches it.
    const DEEPER_THAN_TWO: &[&str] = &[
        "/lxc/web01/init.scope",
        "/lxc.payload.web01/system.slice/nginx.service",
    ];

    #[test]
    fn leaf_and_parent_names_agree_with_full_paths() {
        for (path, want) in cases() {
            let (leaf, parent) = leaf_and_parent(&path);
            let want = if DEEPER_THAN_TWO.contains(&path.as_str()) {
                None
            } else {
                want
            };
            assert_eq!(container_id(leaf, parent), want, "{path}");
        }
    }

    #[test]
    fn v1_lines_name_the_container() {
        let text = format!(
            "12:blkio:/docker/{ID}\n11:memory:/docker/{ID}\n3:cpu,cpuacct:/docker/{ID}\n\
             1:name=systemd:/docker/{ID}\n0::/\n"
        );
        assert_eq!(container_id_from_proc_cgroup(&text), Some(ID.into()));
        let kube = format!(
            "10:pids:/kubepods/burstable/{POD}/{ID}\n1:name=systemd:/kubepods/burstable/{POD}/{ID}\n"
        );
        assert_eq!(container_id_from_proc_cgroup(&kube), Some(ID.into()));
    }

    #[test]
    fn hybrid_host_with_container_only_in_v1() {
        // systemd's hybrid layout: the v2 line is the unified systemd tree, v1 lines carry Docker.
        let text = format!(
            "13:misc:/\n5:memory:/system.slice/docker-{ID}.scope\n\
             1:name=systemd:/system.slice/docker-{ID}.scope\n0::/system.slice/docker-{ID}.scope\n"
        );
        assert_eq!(container_id_from_proc_cgroup(&text), Some(ID.into()));
    }

    #[test]
    fn host_proc_cgroup_is_none() {
        let host = "12:memory:/user.slice/user-1000.slice/session-2.scope\n\
                    1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n\
                    0::/user.slice/user-1000.slice/session-2.scope\n";
        assert_eq!(container_id_from_proc_cgroup(host), None);
        assert_eq!(container_id_from_proc_cgroup("0::/init.scope\n"), None);
        assert_eq!(container_id_from_proc_cgroup(""), None);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = format!("garbage\n::\n7\n0:/docker/{ID}\n0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from_proc_cgroup(&text), Some(ID.into()));
        assert_eq!(container_id_from_proc_cgroup("no colons at all"), None);
    }

    #[test]
    fn runtime_helpers_are_not_containers() {
        // conmon is on the host even though its slice is the pod's.
        let conmon = format!("0::/machine.slice/libpod-conmon-{ID}.scope\n");
        assert_eq!(container_id_from_proc_cgroup(&conmon), None);
        assert_eq!(
            container_id(
                format!("crio-conmon-{ID}.scope").as_bytes(),
                b"kubepods.slice"
            ),
            None
        );
    }

    #[test]
    fn non_utf8_names_are_lossy_not_lost() {
        assert_eq!(
            container_id(b"lxc.payload.caf\xe9", b""),
            Some("caf\u{fffd}".to_string())
        );
        assert_eq!(
            container_id(b"web\xff", b"lxc"),
            Some("web\u{fffd}".to_string())
        );
    }

    #[test]
    fn systemd_escapes_decode_only_when_whole() {
        assert_eq!(unescape_unit(br"a\x2db\x2dc"), "a-b-c");
        assert_eq!(unescape_unit(br"a\x2"), r"a\x2");
        assert_eq!(unescape_unit(br"a\xzz"), r"a\xzz");
        assert_eq!(unescape_unit(br"trailing\"), r"trailing\");
    }
}
