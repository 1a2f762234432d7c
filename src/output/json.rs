//! JSON lines: one object per event, rendered by hand into the caller's buffer for speed.
//!
//! Shape (key order fixed; optional keys appear only when true or when bytes are not UTF-8, see
//! [`super::encode`] for the `_b64` siblings):
//! `{"id","op","via","alert"?,"merged"?,"timestamp","system_ts","process":{"name","pid","tid","ppid","uid","gid",
//! "exe_path","file_path","cmdline","cmdline_truncated"?,"cwd"},"file":{"name","file_path",
//! <op's fields>,"inode","dev","truncated"?,"deleted"?}}`. `process.file_path` is the interpreter's
//! script (or `-m` module), `exe_path`, `file_path` and `cwd` may be null, `dev` is `"major:minor"`
//! (both null when the kernel did not reach the file). The op's fields: write `bytes_written`;
//! a copy's write also `source_path`, `source_inode`; rename `old_path`, `flags`, `replaced_inode`? (kprobe path only); link and symlink `target`; chmod, mkdir and create `mode` (octal
//! string); chown `uid`, `gid`; truncate `size`, `flags`; mmap `size`, `flags`; read `bytes_read`;
//! open `flags`, `mode` (null without `O_CREAT`/`O_TMPFILE`), `fd`, `created`?; close `reads`,
//! `bytes_read`, `writes`, `bytes_written`.

use super::encode::{base64_into, json_bytes_field, json_string, push_u64};
use crate::append::append;
use crate::clock::Clock;
use crate::event::Event;
use crate::kinds::Op;
use crate::uuid::UuidGen;

/// Renders events as JSON lines.
pub struct JsonWriter {
    clock: Clock,
    ids: UuidGen,
    /// `host.name` of every event (null when empty).
    host_name: String,
    /// The process fields from `exe_path` to `ancestors` as rendered for `process_part_id` (a
    /// `ProcessInfo::context_id`): one writer's events come in runs of one process.
    process_part: Vec<u8>,
    process_part_id: u64,
}

impl JsonWriter {
    pub fn new(clock: Clock, ids: UuidGen) -> JsonWriter {
        JsonWriter {
            clock,
            ids,
            host_name: String::new(),
            process_part: Vec::new(),
            process_part_id: 0,
        }
    }

    pub fn set_host_name(&mut self, name: &str) {
        self.host_name = name.to_string();
    }

    /// Appends one JSON object and `\n` for `ev`; `script` is [`crate::script::script_of`]'s result.
    pub fn write_event(&mut self, ev: &Event, script: Option<&[u8]>, out: &mut Vec<u8>) {
        let p = &ev.process;
        let f = &ev.file;
        out.extend_from_slice(b"{\"id\":\"");
        self.ids.write_v4(out);
        out.extend_from_slice(b"\",\"op\":\"");
        append(out, ev.op.name().as_bytes());
        out.extend_from_slice(b"\",\"via\":\"");
        append(out, ev.via.as_bytes());
        out.push(b'"');
        if let Some(a) = &ev.alert {
            // Rule names and categories are [A-Za-z0-9_.-]: no escaping needed.
            out.extend_from_slice(b",\"alert\":{\"rule\":\"");
            out.extend_from_slice(a.rule.as_bytes());
            out.extend_from_slice(b"\",\"category\":\"");
            out.extend_from_slice(a.category.as_bytes());
            out.extend_from_slice(b"\",\"severity\":\"");
            out.extend_from_slice(a.severity.name().as_bytes());
            out.extend_from_slice(b"\",\"repeats\":");
            push_u64(out, a.repeats);
            out.push(b'}');
        }
        if let Some(m) = &ev.merged {
            out.extend_from_slice(b",\"merged\":{\"count\":");
            push_u64(out, m.count);
            out.extend_from_slice(b",\"first_ts\":\"");
            self.clock.write_rfc3339(m.first_ns, out);
            out.extend_from_slice(b"\",\"last_ts\":\"");
            self.clock.write_rfc3339(m.last_ns, out);
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b",\"timestamp\":\"");
        self.clock.write_rfc3339(ev.mono_ns, out);
        out.extend_from_slice(b"\",\"system_ts\":");
        push_u64(out, ev.mono_ns);

        out.extend_from_slice(b",\"process\":{");
        json_bytes_field("name", &p.comm, out);
        for (key, v) in [
            (&b",\"pid\":"[..], p.pid),
            (b",\"tid\":", p.tid),
            (b",\"ppid\":", p.ppid),
            (b",\"uid\":", p.uid),
            (b",\"gid\":", p.gid),
        ] {
            append(out, key);
            push_u64(out, u64::from(v));
        }
        let id = p.context_id;
        if id != 0 && id == self.process_part_id {
            out.extend_from_slice(&self.process_part);
        } else {
            let start = out.len();
            process_part(ev, script, out);
            if id != 0 {
                self.process_part.clear();
                self.process_part.extend_from_slice(&out[start..]);
                self.process_part_id = id;
            }
        }

        out.push(b'}');
        if ev.op.kind().has_file {
            out.extend_from_slice(b",\"file\":{");
            json_bytes_field("name", &f.name, out);
            out.push(b',');
            json_bytes_field("file_path", &f.path, out);
            op_fields(ev, out);
            if f.has_inode {
                out.extend_from_slice(b",\"inode\":");
                push_u64(out, f.inode);
                out.extend_from_slice(b",\"dev\":\"");
                push_u64(out, u64::from(f.dev_major));
                out.push(b':');
                push_u64(out, u64::from(f.dev_minor));
                out.push(b'"');
            } else {
                out.extend_from_slice(b",\"inode\":null,\"dev\":null");
            }
            if f.truncated {
                out.extend_from_slice(b",\"truncated\":true");
            }
            if f.deleted {
                out.extend_from_slice(b",\"deleted\":true");
            }
            out.push(b'}');
        }
        process_fields(ev, out);
        out.extend_from_slice(b",\"container\":");
        match &ev.container_id {
            Some(id) => {
                out.extend_from_slice(b"{\"id\":");
                json_string(id.as_bytes(), out);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"host\":{\"name\":");
        if self.host_name.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            json_string(self.host_name.as_bytes(), out);
        }
        out.extend_from_slice(b"}}\n");
    }
}

/// The process fields after `gid`: what its image and enrichment give, the same for every event of
/// one `context_id`.
fn process_part(ev: &Event, script: Option<&[u8]>, out: &mut Vec<u8>) {
    let p = &ev.process;
    out.push(b',');
    optional_bytes("exe_path", p.exe_path.as_deref(), out);
    out.push(b',');
    optional_bytes("file_path", script, out);
    out.extend_from_slice(b",\"cmdline\":[");
    let mut all_utf8 = true;
    for (i, arg) in p.cmdline.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        all_utf8 &= json_string(arg, out);
    }
    out.push(b']');
    if !all_utf8 {
        out.extend_from_slice(b",\"cmdline_b64\":[");
        for (i, arg) in p.cmdline.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            base64_into(arg, out);
            out.push(b'"');
        }
        out.push(b']');
    }
    if p.cmdline_truncated {
        out.extend_from_slice(b",\"cmdline_truncated\":true");
    }
    out.push(b',');
    optional_bytes("cwd", p.cwd.as_deref(), out);
    identity(ev, out);
}

/// The process's identity after `cwd`: effective ids, login uid and session, names, entity id,
/// cgroup id, parent and ancestors (null where unknown).
fn identity(ev: &Event, out: &mut Vec<u8>) {
    let p = &ev.process;
    let ids = p.ids.as_ref();
    let num = |key: &[u8], v: Option<u64>, out: &mut Vec<u8>| {
        append(out, key);
        match v {
            Some(v) => push_u64(out, v),
            None => out.extend_from_slice(b"null"),
        }
    };
    num(b",\"euid\":", ids.map(|i| u64::from(i.euid)), out);
    num(b",\"egid\":", ids.map(|i| u64::from(i.egid)), out);
    num(b",\"auid\":", ids.and_then(|i| i.auid).map(u64::from), out);
    num(
        b",\"session_id\":",
        ids.and_then(|i| i.session_id).map(u64::from),
        out,
    );
    for (key, v) in [
        ("user", &p.user),
        ("group", &p.group),
        ("entity_id", &p.entity_id),
    ] {
        out.push(b',');
        optional_bytes(key, v.as_deref().map(str::as_bytes), out);
    }
    num(b",\"cgroup_id\":", ids.map(|i| i.cgroup_id), out);
    out.extend_from_slice(b",\"parent\":");
    match &p.parent {
        Some(par) => {
            out.extend_from_slice(b"{\"pid\":");
            push_u64(out, u64::from(par.pid));
            out.push(b',');
            optional_bytes("name", par.name.as_deref(), out);
            out.push(b',');
            optional_bytes("exe_path", par.exe_path.as_deref(), out);
            out.push(b',');
            optional_bytes("file_path", par.script.as_deref(), out);
            out.push(b',');
            optional_bytes(
                "entity_id",
                par.entity_id.as_deref().map(str::as_bytes),
                out,
            );
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"ancestors\":[");
    for (i, (pid, name)) in ids.map_or(&[][..], |i| &i.ancestors[..]).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"pid\":");
        push_u64(out, u64::from(*pid));
        out.push(b',');
        json_bytes_field("name", name, out);
        out.push(b'}');
    }
    out.push(b']');
}

/// After `file`: a fork's child, an exit's status and I/O summary.
fn process_fields(ev: &Event, out: &mut Vec<u8>) {
    if let Some(c) = &ev.child {
        out.extend_from_slice(b",\"child\":{\"pid\":");
        push_u64(out, u64::from(c.pid));
        out.extend_from_slice(b",\"tid\":");
        push_u64(out, u64::from(c.tid));
        out.extend_from_slice(if c.thread {
            b",\"thread\":true"
        } else {
            b",\"thread\":false"
        });
        out.push(b'}');
    }
    if let Some(x) = &ev.exit {
        out.extend_from_slice(b",\"exit\":{\"code\":");
        match x.code {
            Some(c) => push_u64(out, u64::from(c)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"signal\":");
        match x.signal {
            Some(s) => push_u64(out, u64::from(s)),
            None => out.extend_from_slice(b"null"),
        }
        if x.core_dumped {
            out.extend_from_slice(b",\"core_dumped\":true");
        }
        out.extend_from_slice(b",\"run_time_ns\":");
        push_u64(out, x.run_time_ns);
        let io = ev.io.unwrap_or_default();
        out.extend_from_slice(b",\"writes\":");
        push_u64(out, io.writes);
        out.extend_from_slice(b",\"bytes_written\":");
        push_u64(out, io.bytes_written);
        out.extend_from_slice(b",\"files_written\":");
        push_u64(out, io.files_written);
        out.extend_from_slice(b",\"reads\":");
        push_u64(out, io.reads);
        out.extend_from_slice(b",\"bytes_read\":");
        push_u64(out, io.bytes_read);
        out.push(b'}');
    }
}

/// The fields only some ops have, after `file.file_path`.
fn op_fields(ev: &Event, out: &mut Vec<u8>) {
    let f = &ev.file;
    match ev.op {
        Op::Write => {
            out.extend_from_slice(b",\"bytes_written\":");
            push_u64(out, f.bytes_written);
            if let Some(src) = &f.source_path {
                out.push(b',');
                json_bytes_field("source_path", src, out);
                out.extend_from_slice(b",\"source_inode\":");
                push_u64(out, f.source_inode.unwrap_or(0));
            }
        }
        Op::Rename => {
            out.push(b',');
            optional_bytes("old_path", f.old_path.as_deref(), out);
            flags_field(&f.flags, out);
            if let Some(ino) = f.replaced_inode {
                out.extend_from_slice(b",\"replaced_inode\":");
                push_u64(out, ino);
            }
        }
        Op::Link | Op::Symlink => {
            out.push(b',');
            optional_bytes("target", f.target.as_deref(), out);
        }
        Op::Chmod | Op::Mkdir | Op::Create => match f.mode {
            Some(m) => {
                let text = format!(",\"mode\":\"{m:04o}\"");
                out.extend_from_slice(text.as_bytes());
            }
            None => out.extend_from_slice(b",\"mode\":null"),
        },
        Op::Chown => {
            for (key, v) in [
                (&b",\"uid\":"[..], f.owner_uid),
                (b",\"gid\":", f.owner_gid),
            ] {
                append(out, key);
                match v {
                    Some(v) => push_u64(out, u64::from(v)),
                    None => out.extend_from_slice(b"null"),
                }
            }
        }
        Op::Truncate | Op::Mmap => {
            out.extend_from_slice(b",\"size\":");
            push_u64(out, f.size.unwrap_or(0));
            flags_field(&f.flags, out);
        }
        Op::Read => {
            out.extend_from_slice(b",\"bytes_read\":");
            push_u64(out, f.bytes_read);
        }
        Op::Close => {
            for (key, v) in [
                (&b",\"reads\":"[..], f.reads),
                (b",\"bytes_read\":", f.bytes_read),
                (b",\"writes\":", f.writes),
                (b",\"bytes_written\":", f.bytes_written),
            ] {
                out.extend_from_slice(key);
                push_u64(out, v);
            }
        }
        Op::Open => {
            flags_field(&f.flags, out);
            match f.mode {
                Some(m) => {
                    let text = format!(",\"mode\":\"{m:04o}\"");
                    out.extend_from_slice(text.as_bytes());
                }
                None => out.extend_from_slice(b",\"mode\":null"),
            }
            out.extend_from_slice(b",\"fd\":");
            push_u64(out, f.fd.unwrap_or(0).max(0) as u64);
            if f.created {
                out.extend_from_slice(b",\"created\":true");
            }
        }
        Op::Delete | Op::Rmdir | Op::Exec | Op::Fork | Op::Exit => {}
    }
}

fn flags_field(flags: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"flags\":[");
    for (i, name) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        append(out, name.as_bytes());
        out.push(b'"');
    }
    out.push(b']');
}

fn optional_bytes(key: &str, v: Option<&[u8]>, out: &mut Vec<u8>) {
    match v {
        Some(b) => json_bytes_field(key, b, out),
        None => {
            out.push(b'"');
            append(out, key.as_bytes());
            out.extend_from_slice(b"\":null");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JsonWriter;
    use crate::clock::Clock;
    use crate::event::Event;
    use crate::uuid::UuidGen;

    /// The line without its random `id`.
    fn line(w: &mut JsonWriter, ev: &Event) -> Vec<u8> {
        let mut out = Vec::new();
        w.write_event(ev, Some(b"/s.py"), &mut out);
        out.split_off(b"{\"id\":\"".len() + 36)
    }

    #[test]
    fn a_context_id_renders_the_process_part_once_and_the_same() {
        let mut w = JsonWriter::new(Clock::new(), UuidGen::new().expect("getrandom"));
        let mut ev = Event::default();
        ev.process.exe_path = Some(b"/bin/a".to_vec());
        ev.process.user = Some("alice".into());
        let plain = line(&mut w, &ev);
        ev.process.context_id = 7;
        assert_eq!(line(&mut w, &ev), plain);
        assert_eq!(line(&mut w, &ev), plain, "rendered from the kept part");
        ev.process.exe_path = Some(b"/bin/b".to_vec());
        ev.process.context_id = 8;
        let next = line(&mut w, &ev);
        ev.process.context_id = 0;
        assert_eq!(
            next,
            line(&mut w, &ev),
            "another id renders the fields again"
        );
        assert_ne!(next, plain);
    }
}
