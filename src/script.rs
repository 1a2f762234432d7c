//! Script recognition: which script (or `python -m` module) an interpreter process is running.
//!
//! The kernel only tells us argv, the executable and the cwd. An interpreter's script is its first
//! operand after its own options, so each interpreter gets a small option grammar saying which options
//! take a value, which mean "code comes from the command line or stdin" (no script), and so on.
//! Everything is bytes: paths are not UTF-8 in general. Nothing here panics on any input.

/// Deepest chain of `env`/`busybox` wrappers followed; each level consumes arguments, this only bounds work.
const MAX_DEPTH: u32 = 8;

/// Returns the script (absolute when a cwd is known) or module name run by an interpreter, else None.
///
/// The interpreter is recognised from `exe_path` (the kernel's `mm->exe_file`), never from argv[0],
/// which the process chooses (`exec -a python3 /tmp/evil /opt/legit/job.py`). argv[0] counts only where
/// the program itself acts on it: a multi-call binary (busybox, toybox) runs the applet argv[0] names.
/// No executable (a kernel thread, an unreadable context) means no script.
pub fn script_of(
    cmdline: &[Vec<u8>],
    exe_path: Option<&[u8]>,
    cwd: Option<&[u8]>,
) -> Option<Vec<u8>> {
    let args: Vec<&[u8]> = cmdline.iter().map(|a| a.as_slice()).collect();
    let argv0 = *args.first()?;
    let exe = exe_path?;
    // /proc/PID/exe of a replaced binary (a package upgrade) ends in " (deleted)".
    let exe = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let kind = match interp_of(exe)? {
        Interp::Multicall => interp_of(argv0)?,
        k => k,
    };
    let mut cwd = cwd.map(<[u8]>::to_vec);
    match run(kind, &args[1..], &mut cwd, 0)? {
        Found::Module(m) => Some(m),
        Found::Path(p) => Some(absolutize(&p, cwd.as_deref())),
    }
}

/// What an interpreter's command line names.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// A file path, relative paths are resolved against the (possibly changed) cwd.
    Path(Vec<u8>),
    /// Given verbatim: a `-m` module, a bare name found via PATH, a URL or package specifier.
    Module(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interp {
    Python,
    Node,
    Shell,
    Perl,
    Ruby,
    Php,
    Lua,
    LuaJit,
    Rscript,
    R,
    Tcl,
    Deno,
    Bun,
    Env,
    /// busybox, toybox: argv[0] (or, when that is the binary's own name, argv[1]) picks the applet.
    Multicall,
}

fn basename(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&c| c == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// `name` followed only by a version such as `3`, `3.11`, `5.36.0`.
fn versioned(s: &[u8], name: &[u8]) -> bool {
    s.strip_prefix(name)
        .is_some_and(|v| v.iter().all(|c| c.is_ascii_digit() || *c == b'.'))
}

fn interp_of(path: &[u8]) -> Option<Interp> {
    let b = basename(path);
    // A login shell's argv[0] is "-bash".
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let kind = match b {
        b"node" | b"nodejs" => Interp::Node,
        b"sh" | b"bash" | b"dash" | b"zsh" | b"ksh" | b"ksh93" | b"mksh" | b"ash" | b"rbash" => {
            Interp::Shell
        }
        b"luajit" => Interp::LuaJit,
        b"Rscript" => Interp::Rscript,
        b"R" => Interp::R,
        b"deno" => Interp::Deno,
        b"bun" => Interp::Bun,
        b"env" => Interp::Env,
        b"busybox" | b"toybox" => Interp::Multicall,
        _ if versioned(b, b"python") || versioned(b, b"pypy") => Interp::Python,
        _ if versioned(b, b"perl") => Interp::Perl,
        _ if versioned(b, b"ruby") => Interp::Ruby,
        _ if versioned(b, b"php") => Interp::Php,
        _ if versioned(b, b"lua") => Interp::Lua,
        _ if versioned(b, b"tclsh") || versioned(b, b"wish") => Interp::Tcl,
        _ if b.starts_with(b"luajit-") => Interp::LuaJit,
        _ => return None,
    };
    Some(kind)
}

fn run(kind: Interp, args: &[&[u8]], cwd: &mut Option<Vec<u8>>, depth: u32) -> Option<Found> {
    if depth > MAX_DEPTH {
        return None;
    }
    let g = match kind {
        Interp::Env => return env(args, cwd, depth),
        Interp::Multicall => {
            let applet = interp_of(args.first()?)?;
            return run(applet, &args[1..], cwd, depth + 1);
        }
        Interp::Tcl => return tcl(args),
        Interp::Deno => return deno(args, cwd),
        Interp::Bun => return bun(args, cwd),
        Interp::R => {
            return match scan(&R, args, cwd) {
                Scan::Script(f) => Some(f),
                _ => None,
            }
        }
        Interp::Python => &PYTHON,
        Interp::Node => &NODE,
        Interp::Shell => &SHELL,
        Interp::Perl => &PERL,
        Interp::Ruby => &RUBY,
        Interp::Php => &PHP,
        Interp::Lua => &LUA,
        Interp::LuaJit => &LUAJIT,
        Interp::Rscript => &RSCRIPT,
    };
    match scan(g, args, cwd) {
        Scan::Script(f) => Some(f),
        Scan::Operand(i, search) => operand(args[i], search),
        Scan::None => None,
    }
}

/// What one option means to its interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    /// Takes no value.
    Flag,
    /// Takes a value: the rest of the cluster / after `=`, else the next argument.
    Value,
    /// Takes an optional value that can only be attached (perl `-i.bak`, `-x`): ends the cluster.
    Rest,
    /// Takes optional attached octal (or `x`+hex) digits, then the cluster goes on (perl `-0777`, `-lne`).
    Digits,
    /// The program comes from the command line or stdin: there is no script.
    NoScript,
    /// The value is a module name (python `-m`).
    Module,
    /// The value is the script (php `-f`, R `--file`).
    Script,
    /// The value is a directory the interpreter changes into before opening the script (ruby `-C`).
    Chdir,
    /// A bare script name is looked up in PATH (perl/ruby `-S`).
    SearchPath,
    /// End of options: the next argument is the operand.
    End,
}

/// An interpreter's option grammar.
struct Grammar {
    short: fn(u8) -> Opt,
    /// Long option name without `--` and without `=value`.
    long: fn(&[u8]) -> Opt,
    /// Meaning of a lone `-`.
    dash: Opt,
    /// Meaning of `--`.
    dashdash: Opt,
    /// Shells also take `+o opt` and `+x`.
    plus: bool,
}

enum Scan {
    Script(Found),
    /// Index of the first operand, and whether a bare name is searched in PATH.
    Operand(usize, bool),
    None,
}

/// Walks the options of `args` by grammar `g` up to the first operand.
fn scan(g: &Grammar, args: &[&[u8]], cwd: &mut Option<Vec<u8>>) -> Scan {
    let mut i = 0;
    let mut search = false;
    while let Some(&a) = args.get(i) {
        i += 1;
        let whole = if a == b"--" {
            Some(g.dashdash)
        } else if a == b"-" {
            Some(g.dash)
        } else {
            None
        };
        if let Some(op) = whole {
            match op {
                Opt::End if i < args.len() => return Scan::Operand(i, search),
                Opt::NoScript | Opt::End => return Scan::None,
                _ => continue,
            }
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, attached) = match long.iter().position(|&c| c == b'=') {
                Some(e) => (&long[..e], Some(&long[e + 1..])),
                None => (long, None),
            };
            let op = (g.long)(name);
            let needs_value = matches!(op, Opt::Value | Opt::Module | Opt::Script | Opt::Chdir);
            let value = match (needs_value, attached) {
                (false, _) => &[][..],
                (true, Some(v)) => v,
                (true, None) => {
                    let Some(&v) = args.get(i) else {
                        return Scan::None;
                    };
                    i += 1;
                    v
                }
            };
            match apply(op, value, cwd, &mut search) {
                Step::Go => {}
                Step::Stop(s) => return s,
                Step::End if i < args.len() => return Scan::Operand(i, search),
                Step::End => return Scan::None,
            }
            continue;
        }
        let is_option = a.len() > 1 && (a[0] == b'-' || (g.plus && a[0] == b'+'));
        if !is_option {
            return Scan::Operand(i - 1, search);
        }
        let mut j = 1;
        while j < a.len() {
            let op = (g.short)(a[j]);
            j += 1;
            let value: &[u8] = match op {
                Opt::Value | Opt::Module | Opt::Script | Opt::Chdir => {
                    if j < a.len() {
                        let v = &a[j..];
                        j = a.len();
                        v
                    } else {
                        let Some(&v) = args.get(i) else {
                            return Scan::None;
                        };
                        i += 1;
                        v
                    }
                }
                Opt::Rest => {
                    j = a.len();
                    &[]
                }
                Opt::Digits => {
                    let hex = a.get(j).is_some_and(|c| *c == b'x' || *c == b'X');
                    if hex {
                        j += 1;
                    }
                    while a.get(j).is_some_and(|c| {
                        if hex {
                            c.is_ascii_hexdigit()
                        } else {
                            (b'0'..=b'7').contains(c)
                        }
                    }) {
                        j += 1;
                    }
                    &[]
                }
                _ => &[],
            };
            match apply(op, value, cwd, &mut search) {
                Step::Go => {}
                Step::Stop(s) => return s,
                Step::End if i < args.len() => return Scan::Operand(i, search),
                Step::End => return Scan::None,
            }
        }
    }
    Scan::None
}

enum Step {
    Go,
    Stop(Scan),
    End,
}

fn apply(op: Opt, value: &[u8], cwd: &mut Option<Vec<u8>>, search: &mut bool) -> Step {
    match op {
        Opt::Flag | Opt::Value | Opt::Rest | Opt::Digits => Step::Go,
        Opt::SearchPath => {
            *search = true;
            Step::Go
        }
        Opt::Chdir => {
            chdir(cwd, value);
            Step::Go
        }
        Opt::NoScript => Step::Stop(Scan::None),
        Opt::Module if value.is_empty() => Step::Stop(Scan::None),
        Opt::Module => Step::Stop(Scan::Script(Found::Module(value.to_vec()))),
        Opt::Script => Step::Stop(match operand(value, false) {
            Some(f) => Scan::Script(f),
            None => Scan::None,
        }),
        Opt::End => Step::End,
    }
}

fn operand(a: &[u8], search: bool) -> Option<Found> {
    if a.is_empty() {
        return None;
    }
    if search && !a.contains(&b'/') {
        return Some(Found::Module(a.to_vec()));
    }
    Some(Found::Path(a.to_vec()))
}

fn chdir(cwd: &mut Option<Vec<u8>>, dir: &[u8]) {
    *cwd = if dir.starts_with(b"/") {
        Some(normalise(dir))
    } else {
        cwd.as_deref().map(|c| join(c, dir))
    };
}

fn absolutize(p: &[u8], cwd: Option<&[u8]>) -> Vec<u8> {
    match cwd {
        Some(c) if !p.starts_with(b"/") && c.starts_with(b"/") => join(c, p),
        _ => p.to_vec(),
    }
}

fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(base.len() + 1 + rel.len());
    s.extend_from_slice(base);
    s.push(b'/');
    s.extend_from_slice(rel);
    normalise(&s)
}

/// Lexical normalisation of an absolute path: drops empty and `.` components, `..` pops (never above `/`).
fn normalise(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for c in &parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

// ---- Grammars -------------------------------------------------------------------------------------

fn flag_long(_: &[u8]) -> Opt {
    Opt::Flag
}

const PYTHON: Grammar = Grammar {
    short: |c| match c {
        b'c' => Opt::NoScript,
        b'm' => Opt::Module,
        b'W' | b'X' | b'Q' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"check-hash-based-pycs" => Opt::Value,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const NODE: Grammar = Grammar {
    short: |c| match c {
        b'e' | b'p' => Opt::NoScript,
        b'r' | b'C' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"eval" | b"print" | b"run" => Opt::NoScript,
        b"require"
        | b"import"
        | b"loader"
        | b"experimental-loader"
        | b"conditions"
        | b"title"
        | b"env-file"
        | b"env-file-if-exists"
        | b"input-type"
        | b"inspect-port"
        | b"debug-port"
        | b"openssl-config"
        | b"redirect-warnings"
        | b"icu-data-dir"
        | b"diagnostic-dir"
        | b"report-dir"
        | b"report-directory"
        | b"report-filename"
        | b"report-signal"
        | b"heapsnapshot-signal"
        | b"experimental-policy"
        | b"policy-integrity"
        | b"dns-result-order"
        | b"unhandled-rejections"
        | b"watch-path"
        | b"test-name-pattern"
        | b"test-reporter"
        | b"test-reporter-destination"
        | b"cpu-prof-dir"
        | b"cpu-prof-name"
        | b"heap-prof-dir"
        | b"heap-prof-name"
        | b"disable-warning"
        | b"secure-heap"
        | b"secure-heap-min"
        | b"stack-trace-limit"
        | b"max-http-header-size"
        | b"experimental-config-file"
        | b"localstorage-file" => Opt::Value,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const SHELL: Grammar = Grammar {
    short: |c| match c {
        b'c' | b's' => Opt::NoScript,
        b'o' | b'O' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"rcfile" | b"init-file" | b"emulate" => Opt::Value,
        _ => Opt::Flag,
    },
    // bash: "A single - is equivalent to --".
    dash: Opt::End,
    dashdash: Opt::End,
    plus: true,
};

const PERL: Grammar = Grammar {
    short: |c| match c {
        b'e' | b'E' => Opt::NoScript,
        b'I' | b'M' | b'm' => Opt::Value,
        b'x' | b'i' | b'd' | b'D' | b'F' | b'C' | b'V' => Opt::Rest,
        b'0' | b'l' => Opt::Digits,
        b'S' => Opt::SearchPath,
        _ => Opt::Flag,
    },
    long: flag_long,
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const RUBY: Grammar = Grammar {
    short: |c| match c {
        b'e' => Opt::NoScript,
        b'I' | b'r' | b'E' => Opt::Value,
        b'C' => Opt::Chdir,
        b'x' | b'i' | b'F' | b'T' | b'W' | b'K' => Opt::Rest,
        b'0' => Opt::Digits,
        b'S' => Opt::SearchPath,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"enable" | b"disable" | b"encoding" | b"external-encoding" | b"internal-encoding"
        | b"dump" | b"backtrace-limit" | b"crash-report" => Opt::Value,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const PHP: Grammar = Grammar {
    short: |c| match c {
        b'f' | b'F' => Opt::Script,
        b'r' | b'R' | b'a' => Opt::NoScript,
        b'd' | b'c' | b'z' | b't' | b'S' | b'B' | b'E' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"file" | b"process-file" => Opt::Script,
        b"run" | b"process-code" | b"interactive" | b"ini" | b"rf" | b"rc" | b"re" | b"rz"
        | b"ri" | b"rfunction" | b"rclass" | b"rextension" | b"rzendextension" | b"rextinfo" => {
            Opt::NoScript
        }
        b"define" | b"php-ini" | b"zend-extension" | b"process-begin" | b"process-end" => {
            Opt::Value
        }
        _ => Opt::Flag,
    },
    // `php [options] -- [args]` reads the program from stdin.
    dash: Opt::NoScript,
    dashdash: Opt::NoScript,
    plus: false,
};

// lua runs `-e` chunks and then the script if one follows, so `-e` only takes a value.
const LUA: Grammar = Grammar {
    short: |c| match c {
        b'e' | b'l' => Opt::Value,
        _ => Opt::Flag,
    },
    long: flag_long,
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const LUAJIT: Grammar = Grammar {
    short: |c| match c {
        b'e' | b'l' | b'j' => Opt::Value,
        b'O' => Opt::Rest,
        // `-b in out` saves bytecode: a compiler run, not a script run.
        b'b' => Opt::NoScript,
        _ => Opt::Flag,
    },
    long: flag_long,
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const RSCRIPT: Grammar = Grammar {
    short: |c| match c {
        b'e' => Opt::NoScript,
        _ => Opt::Flag,
    },
    long: flag_long,
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

// The R binary itself (what Rscript execs): only `--file=x` / `-f x` name a script.
const R: Grammar = Grammar {
    short: |c| match c {
        b'f' => Opt::Script,
        b'e' => Opt::NoScript,
        b'd' | b'g' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"file" => Opt::Script,
        b"args" => Opt::NoScript,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::NoScript,
    plus: false,
};

const DENO: Grammar = Grammar {
    short: |c| match c {
        b'c' | b'L' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"config" | b"import-map" | b"cert" | b"location" | b"seed" | b"log-level" | b"ext"
        | b"preload" | b"require" | b"watch-exclude" => Opt::Value,
        b"eval" => Opt::NoScript,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

const BUN: Grammar = Grammar {
    short: |c| match c {
        b'e' | b'p' => Opt::NoScript,
        b'r' | b'd' | b'l' => Opt::Value,
        _ => Opt::Flag,
    },
    long: |n| match n {
        b"eval" | b"print" => Opt::NoScript,
        b"cwd" => Opt::Chdir,
        b"preload" | b"require" | b"import" | b"define" | b"loader" | b"env-file" | b"port"
        | b"conditions" | b"tsconfig-override" | b"main-fields" | b"extension-order"
        | b"jsx-factory" | b"jsx-fragment" | b"jsx-import-source" | b"jsx-runtime" | b"config"
        | b"console-depth" | b"elide-lines" | b"filter" => Opt::Value,
        _ => Opt::Flag,
    },
    dash: Opt::NoScript,
    dashdash: Opt::End,
    plus: false,
};

// ---- Interpreters with subcommands or their own rules ---------------------------------------------

/// `tclsh ?-encoding name? ?fileName arg ...?`: the first argument is the script unless it starts with `-`.
fn tcl(args: &[&[u8]]) -> Option<Found> {
    let rest = match args.first() {
        Some(&b"-encoding") => args.get(2..)?,
        _ => args,
    };
    let a = *rest.first()?;
    if a.starts_with(b"-") {
        return None;
    }
    operand(a, false)
}

/// URLs and registry specifiers (`npm:x`, `jsr:@std/x`) are not paths.
fn deno_operand(a: &[u8]) -> Option<Found> {
    let spec = [
        &b"npm:"[..],
        b"jsr:",
        b"node:",
        b"http://",
        b"https://",
        b"file://",
        b"data:",
    ];
    if spec.iter().any(|p| a.starts_with(p)) {
        return Some(Found::Module(a.to_vec()));
    }
    operand(a, false)
}

/// `deno run [opts] x.ts`, `deno serve x.ts`, and deno 2's shorthand `deno x.ts`.
fn deno(args: &[&[u8]], cwd: &mut Option<Vec<u8>>) -> Option<Found> {
    let Scan::Operand(i, _) = scan(&DENO, args, cwd) else {
        return None;
    };
    match args[i] {
        b"run" | b"serve" => match scan(&DENO, &args[i + 1..], cwd) {
            Scan::Operand(k, _) => deno_operand(args[i + 1 + k]),
            Scan::Script(f) => Some(f),
            Scan::None => None,
        },
        b"eval" | b"repl" | b"task" | b"test" | b"bench" | b"fmt" | b"lint" | b"compile"
        | b"install" | b"uninstall" | b"info" | b"doc" | b"cache" | b"check" | b"upgrade"
        | b"types" | b"init" | b"completions" | b"coverage" | b"lsp" | b"vendor" | b"publish"
        | b"add" | b"remove" | b"jupyter" | b"outdated" | b"clean" | b"x" | b"help" => None,
        a => deno_operand(a),
    }
}

/// A `bun run NAME` operand is a package.json script unless it looks like a file.
fn bun_operand(a: &[u8]) -> Option<Found> {
    if a.contains(&b'/') || a.contains(&b'.') {
        operand(a, false)
    } else {
        None
    }
}

/// `bun run x.ts`, `bun x.ts`; package-manager subcommands run no script of their own.
fn bun(args: &[&[u8]], cwd: &mut Option<Vec<u8>>) -> Option<Found> {
    let Scan::Operand(i, _) = scan(&BUN, args, cwd) else {
        return None;
    };
    match args[i] {
        b"run" => match scan(&BUN, &args[i + 1..], cwd) {
            Scan::Operand(k, _) => bun_operand(args[i + 1 + k]),
            Scan::Script(f) => Some(f),
            Scan::None => None,
        },
        b"install" | b"i" | b"add" | b"a" | b"remove" | b"rm" | b"update" | b"outdated"
        | b"link" | b"unlink" | b"pm" | b"test" | b"build" | b"x" | b"create" | b"c" | b"init"
        | b"upgrade" | b"repl" | b"exec" | b"publish" | b"patch" | b"patch-commit" | b"audit"
        | b"info" | b"why" | b"help" => None,
        a => bun_operand(a),
    }
}

/// GNU/busybox `env [opts] [-S string] [NAME=VALUE]... command [args]`.
fn env(args: &[&[u8]], cwd: &mut Option<Vec<u8>>, depth: u32) -> Option<Found> {
    // Owned because `-S` splices its split words into the argument list.
    let mut rest: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    let mut i = 0;
    'opts: while let Some(a) = rest.get(i).cloned() {
        if a == b"--" {
            i += 1;
            break;
        }
        if a == b"-" {
            i += 1; // same as -i
            continue;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, attached) = match long.iter().position(|&c| c == b'=') {
                Some(e) => (&long[..e], Some(long[e + 1..].to_vec())),
                None => (long, None),
            };
            if !matches!(name, b"unset" | b"chdir" | b"split-string") {
                i += 1;
                continue;
            }
            let (value, used) = match attached {
                Some(v) => (v, 1),
                None => (rest.get(i + 1)?.clone(), 2),
            };
            match name {
                b"chdir" => chdir(cwd, &value),
                b"split-string" => {
                    rest.splice(i..i + used, split_string(&value));
                    continue 'opts;
                }
                _ => {}
            }
            i += used;
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        let mut j = 1;
        while j < a.len() {
            let c = a[j];
            j += 1;
            if !matches!(c, b'u' | b'C' | b'S') {
                continue;
            }
            let (value, used) = if j < a.len() {
                (a[j..].to_vec(), 1)
            } else {
                (rest.get(i + 1)?.clone(), 2)
            };
            match c {
                b'C' => chdir(cwd, &value),
                b'S' => {
                    rest.splice(i..i + used, split_string(&value));
                    continue 'opts;
                }
                _ => {}
            }
            i += used;
            continue 'opts;
        }
        i += 1;
    }
    while rest.get(i).is_some_and(|a| a.contains(&b'=')) {
        i += 1;
    }
    let cmd = rest.get(i)?;
    let kind = interp_of(cmd)?;
    let tail: Vec<&[u8]> = rest[i + 1..].iter().map(|a| a.as_slice()).collect();
    run(kind, &tail, cwd, depth + 1)
}

/// `env -S` word splitting: blanks separate words, '…' is literal, "…" and bare text take
/// backslash escapes (`\_` is a space, `\c` ends the string), `#` at a word start begins a comment.
fn split_string(s: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match (quote, c) {
            (Some(b'\''), b'\'') | (Some(b'"'), b'"') => quote = None,
            (Some(b'\''), _) => cur.push(c),
            (_, b'\\') => {
                let Some(&e) = s.get(i) else { break };
                i += 1;
                in_word = true;
                match e {
                    b'c' => break,
                    b'_' => cur.push(b' '),
                    b't' => cur.push(b'\t'),
                    b'n' => cur.push(b'\n'),
                    b'r' => cur.push(b'\r'),
                    b'f' => cur.push(0x0c),
                    b'v' => cur.push(0x0b),
                    other => cur.push(other),
                }
            }
            (Some(_), _) => cur.push(c),
            (None, b'\'' | b'"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, b' ' | b'\t' | b'\n') => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, b'#') if !in_word => break,
            (None, _) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const CWD: &str = "/home/u/proj";

    fn argv(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    /// The executable a plain exec of `argv0` runs: itself when absolute, else found in /usr/bin (a
    /// login shell's leading '-' is not part of the file name).
    fn exe_of(argv0: &str) -> String {
        let name = argv0.strip_prefix('-').unwrap_or(argv0);
        if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/usr/bin/{name}")
        }
    }

    /// (argv, exe, expected script); exe None: the one argv[0] names (`exe_of`), as after a plain exec.
    #[rustfmt::skip]
    const CASES: &[(&[&str], Option<&str>, Option<&str>)] = &[
        // python
        (&["python3", "x.py"], None, Some("/home/u/proj/x.py")),
        (&["/usr/bin/python3.11", "./tools/x.py", "a", "b"], None, Some("/home/u/proj/tools/x.py")),
        (&["python2.7", "../other/y.py"], None, Some("/home/u/other/y.py")),
        (&["pypy3", "/opt/app/main.py"], None, Some("/opt/app/main.py")),
        (&["python", "-X", "dev", "-W", "error", "-Q", "new", "s.py"], None, Some("/home/u/proj/s.py")),
        (&["python3", "-c", "print(1)", "x.py"], None, None),
        (&["python3", "-uc", "print(1)"], None, None),
        (&["python3", "-m", "http.server", "8000"], None, Some("http.server")),
        (&["python3", "-mpip", "install", "x"], None, Some("pip")),
        (&["python3", "-u", "-O", "-B", "-E", "-I", "-s", "-S", "-b", "-d", "-v", "-q", "-R", "r.py"], None, Some("/home/u/proj/r.py")),
        (&["python3", "-uOB", "-Wd", "w.py"], None, Some("/home/u/proj/w.py")),
        (&["python3", "--check-hash-based-pycs", "always", "h.py"], None, Some("/home/u/proj/h.py")),
        (&["python3", "-"], None, None),
        (&["python3"], None, None),
        (&["python3", "--", "-dash.py"], None, Some("/home/u/proj/-dash.py")),
        (&["python3", "-m"], None, None),
        // node
        (&["node", "server.js"], None, Some("/home/u/proj/server.js")),
        (&["nodejs", "-r", "dotenv/config", "app.js"], None, Some("/home/u/proj/app.js")),
        (&["node", "--require", "ts-node/register", "a.ts"], None, Some("/home/u/proj/a.ts")),
        (&["node", "--require=ts-node/register", "--import", "tsx", "--loader", "l.mjs", "b.ts"], None, Some("/home/u/proj/b.ts")),
        (&["node", "--inspect", "--inspect=0.0.0.0:9229", "--inspect-brk", "c.js"], None, Some("/home/u/proj/c.js")),
        (&["node", "-e", "require('fs')", "d.js"], None, None),
        (&["node", "-p", "1+1"], None, None),
        (&["node", "--eval", "x"], None, None),
        (&["node", "--print", "x"], None, None),
        (&["node", "-pe", "x"], None, None),
        (&["node", "--", "--weird.js"], None, Some("/home/u/proj/--weird.js")),
        (&["node", "--max-old-space-size=4096", "--enable-source-maps", "dist/index.js"], None, Some("/home/u/proj/dist/index.js")),
        // shells
        (&["/bin/bash", "./run.sh", "a"], None, Some("/home/u/proj/run.sh")),
        (&["bash", "-c", "echo hi > f"], None, None),
        (&["bash", "-xc", "echo hi"], None, None),
        (&["sh", "-e", "-x", "-u", "build.sh"], None, Some("/home/u/proj/build.sh")),
        (&["bash", "-o", "pipefail", "+o", "posix", "-O", "extglob", "p.sh"], None, Some("/home/u/proj/p.sh")),
        (&["bash", "-eo", "pipefail", "q.sh"], None, Some("/home/u/proj/q.sh")),
        (&["bash", "--rcfile", "rc", "--init-file", "init", "--norc", "r.sh"], None, Some("/home/u/proj/r.sh")),
        (&["bash", "-s", "arg"], None, None),
        (&["bash"], None, None),
        (&["-bash"], None, None),
        (&["dash", "/etc/init.d/x", "start"], None, Some("/etc/init.d/x")),
        (&["zsh", "-f", "z.zsh"], None, Some("/home/u/proj/z.zsh")),
        (&["ksh", "k.ksh"], None, Some("/home/u/proj/k.ksh")),
        (&["mksh", "-", "m.sh"], None, Some("/home/u/proj/m.sh")),
        (&["sh", "b.sh"], Some("/bin/busybox"), Some("/home/u/proj/b.sh")),
        (&["busybox", "sh", "c.sh"], Some("/bin/busybox"), Some("/home/u/proj/c.sh")),
        (&["busybox", "ls", "c.sh"], Some("/bin/busybox"), None),
        // perl
        (&["perl", "p.pl"], None, Some("/home/u/proj/p.pl")),
        (&["perl", "-e", "print 1"], None, None),
        (&["perl", "-E", "say 1"], None, None),
        (&["perl", "-lne", "print", "file"], None, None),
        (&["perl", "-I", "lib", "-Ilib2", "-M", "strict", "-MData::Dumper", "-w", "t.pl"], None, Some("/home/u/proj/t.pl")),
        (&["perl", "-x", "embedded.sh"], None, Some("/home/u/proj/embedded.sh")),
        (&["perl", "-0777", "-i.bak", "s.pl"], None, Some("/home/u/proj/s.pl")),
        (&["perl", "-S", "cpanm"], None, Some("cpanm")),
        (&["perl5.36.0", "-T", "/usr/share/x.pl"], None, Some("/usr/share/x.pl")),
        // ruby
        (&["ruby", "r.rb"], None, Some("/home/u/proj/r.rb")),
        (&["ruby", "-e", "puts 1"], None, None),
        (&["ruby", "-I", "lib", "-r", "json", "-rset", "app.rb"], None, Some("/home/u/proj/app.rb")),
        (&["ruby", "-C", "/srv/app", "bin/rails"], None, Some("/srv/app/bin/rails")),
        (&["ruby", "-C", "sub", "x.rb"], None, Some("/home/u/proj/sub/x.rb")),
        (&["ruby3.1", "-w", "--enable", "frozen-string-literal", "y.rb"], None, Some("/home/u/proj/y.rb")),
        // php
        (&["php", "artisan", "serve"], None, Some("/home/u/proj/artisan")),
        (&["php", "-f", "index.php"], None, Some("/home/u/proj/index.php")),
        (&["php8.2", "-d", "memory_limit=1G", "-c", "/etc/php.ini", "-dx=1", "w.php"], None, Some("/home/u/proj/w.php")),
        (&["php", "-r", "echo 1;"], None, None),
        (&["php", "-n", "-f", "/var/www/cron.php", "--", "-x"], None, Some("/var/www/cron.php")),
        // lua
        (&["lua", "l.lua"], None, Some("/home/u/proj/l.lua")),
        (&["lua5.4", "-e", "x=1"], None, None),
        // lua runs -e chunks first and then the script when one follows.
        (&["lua5.1", "-e", "x=1", "after.lua"], None, Some("/home/u/proj/after.lua")),
        (&["lua", "-l", "socket", "-lfoo", "m.lua"], None, Some("/home/u/proj/m.lua")),
        (&["luajit", "-O3", "-j", "off", "j.lua"], None, Some("/home/u/proj/j.lua")),
        (&["luajit", "-b", "in.lua", "out.o"], None, None),
        // R
        (&["Rscript", "--vanilla", "--default-packages=utils", "a.R"], None, Some("/home/u/proj/a.R")),
        (&["Rscript", "-e", "1+1"], None, None),
        (&["/usr/lib/R/bin/exec/R", "--no-echo", "--no-restore", "--file=a.R", "--args", "x"], None, Some("/home/u/proj/a.R")),
        (&["R", "--vanilla"], None, None),
        // tcl
        (&["tclsh", "t.tcl", "a"], None, Some("/home/u/proj/t.tcl")),
        (&["tclsh8.6", "-encoding", "utf-8", "u.tcl"], None, Some("/home/u/proj/u.tcl")),
        (&["tclsh", "-notascript"], None, None),
        // deno and bun
        (&["deno", "run", "--allow-net", "-A", "--config", "deno.json", "x.ts"], None, Some("/home/u/proj/x.ts")),
        (&["deno", "run", "--allow-read=/tmp", "https://deno.land/std/x.ts"], None, Some("https://deno.land/std/x.ts")),
        (&["deno", "main.ts"], None, Some("/home/u/proj/main.ts")),
        (&["deno", "eval", "console.log(1)"], None, None),
        (&["deno", "task", "dev"], None, None),
        (&["bun", "run", "x.ts"], None, Some("/home/u/proj/x.ts")),
        (&["bun", "run", "dev"], None, None),
        (&["bun", "x.ts"], None, Some("/home/u/proj/x.ts")),
        (&["bun", "--cwd", "/srv", "run", "./y.js"], None, Some("/srv/y.js")),
        (&["bun", "install"], None, None),
        (&["bun", "-e", "1"], None, None),
        // env prefix and shebang forms
        (&["/usr/bin/env", "python3", "./x.py"], None, Some("/home/u/proj/x.py")),
        (&["env", "-i", "PATH=/bin", "FOO=bar", "node", "e.js"], None, Some("/home/u/proj/e.js")),
        (&["/usr/bin/env", "-S", "python3 -u", "./s.py"], None, Some("/home/u/proj/s.py")),
        (&["/usr/bin/env", "-S deno run --allow-net", "./d.ts"], None, Some("/home/u/proj/d.ts")),
        (&["/usr/bin/env", "-S", "bash -c 'echo hi'"], None, None),
        (&["env", "-u", "HOME", "-C", "/tmp", "perl", "q.pl"], None, Some("/tmp/q.pl")),
        (&["env", "--split-string=ruby -w", "v.rb"], None, Some("/home/u/proj/v.rb")),
        (&["env", "--", "sh", "w.sh"], None, Some("/home/u/proj/w.sh")),
        (&["env", "ls"], None, None),
        (&["env"], None, None),
        // argv[0] rewritten: the executable tells the interpreter
        (&["worker", "job.py"], Some("/usr/bin/python3.12"), Some("/home/u/proj/job.py")),
        (&["-bash", "l.sh"], Some("/usr/bin/bash"), Some("/home/u/proj/l.sh")),
        (&["/root/.pyenv/versions/3.11.7/bin/python3", "j.py"], Some("/root/.pyenv/versions/3.11.7/bin/python3.11"), Some("/home/u/proj/j.py")),
        (&["python3", "u.py"], Some("/usr/bin/python3.11 (deleted)"), Some("/home/u/proj/u.py")),
        // ... and argv[0] never makes a non-interpreter one (`exec -a python3 /tmp/evil job.py`)
        (&["python3", "/opt/legit/job.py"], Some("/tmp/evil"), None),
        (&["bash", "/opt/legit/run.sh"], Some("/usr/bin/cp"), None),
        (&["/usr/bin/env", "python3", "./x.py"], Some("/tmp/evil"), None),
        (&["-python3", "x.py"], Some("/tmp/python3x"), None),
        // multi-call binaries act on argv[0], so it counts there
        (&["sh", "t.sh"], Some("/usr/bin/toybox"), Some("/home/u/proj/t.sh")),
        (&["toybox", "sh", "t.sh"], Some("/usr/bin/toybox"), Some("/home/u/proj/t.sh")),
        (&["env", "python3", "e.py"], Some("/bin/busybox"), Some("/home/u/proj/e.py")),
        (&["python3", "x.py"], Some("/bin/busybox"), Some("/home/u/proj/x.py")),
        (&["cat", "x.sh"], Some("/bin/busybox"), None),
        // not interpreters
        (&["cp", "a", "b"], Some("/usr/bin/cp"), None),
        (&["python3-config", "--libs"], None, None),
        (&["pythonista", "x.py"], None, None),
        (&[], None, None),
    ];

    #[test]
    fn table() {
        let mut failures = Vec::new();
        for (args, exe, want) in CASES {
            let exe = exe.map_or_else(|| args.first().map(|a| exe_of(a)), |e| Some(e.to_string()));
            let got = script_of(
                &argv(args),
                exe.as_deref().map(str::as_bytes),
                Some(CWD.as_bytes()),
            );
            let got = got.map(|g| String::from_utf8_lossy(&g).into_owned());
            if got.as_deref() != *want {
                failures.push(format!("{args:?} exe={exe:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(CASES.len() >= 40);
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn relative_without_cwd_is_returned_as_given() {
        let got = script_of(
            &argv(&["python3", "./x.py"]),
            Some(b"/usr/bin/python3"),
            None,
        );
        assert_eq!(got.as_deref(), Some(&b"./x.py"[..]));
    }

    #[test]
    fn no_executable_no_script() {
        // argv alone is what the process says about itself: not enough.
        assert_eq!(
            script_of(&argv(&["python3", "x.py"]), None, Some(b"/")),
            None
        );
        assert_eq!(
            script_of(&argv(&["busybox", "sh", "x"]), None, Some(b"/")),
            None
        );
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        let args = vec![b"python3".to_vec(), b"caf\xe9/\xff.py".to_vec()];
        let got = script_of(&args, Some(b"/usr/bin/python3"), Some(b"/d\x80"));
        assert_eq!(got.as_deref(), Some(&b"/d\x80/caf\xe9/\xff.py"[..]));
    }

    #[test]
    fn normalise_never_climbs_above_root() {
        assert_eq!(normalise(b"/a/../../b/./c//"), b"/b/c");
        assert_eq!(normalise(b"/.."), b"/");
        assert_eq!(absolutize(b"../../../../x", Some(b"/a")), b"/x");
    }

    #[test]
    fn split_string_quotes_and_escapes() {
        let w = split_string(b"  a 'b c' \"d\\\"e\" f\\_g #comment");
        assert_eq!(
            w,
            vec![
                b"a".to_vec(),
                b"b c".to_vec(),
                b"d\"e".to_vec(),
                b"f g".to_vec()
            ]
        );
        assert_eq!(split_string(b"x\\cy z"), vec![b"x".to_vec()]);
        assert_eq!(split_string(b"''"), vec![Vec::<u8>::new()]);
    }

    /// Random argv built from option-heavy tokens and random bytes must never panic.
    #[test]
    fn fuzz_no_panic() {
        let tokens: &[&[u8]] = &[
            b"python3",
            b"node",
            b"bash",
            b"perl",
            b"ruby",
            b"php",
            b"lua",
            b"luajit",
            b"Rscript",
            b"R",
            b"tclsh",
            b"deno",
            b"bun",
            b"env",
            b"busybox",
            b"toybox",
            b"sh",
            b"-",
            b"--",
            b"-c",
            b"-m",
            b"-S",
            b"-C",
            b"-e",
            b"-0",
            b"-0x",
            b"-l",
            b"-W",
            b"-o",
            b"+o",
            b"--file=",
            b"--cwd",
            b"-S'",
            b"\\",
            b"run",
            b"-encoding",
            b"=",
            b"a=b",
            b"..",
            b"/",
            b"",
            b"-f",
            b"--chdir",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let n = (next() % 7) as usize;
            let mut args = Vec::new();
            for _ in 0..n {
                let r = next();
                if r % 4 == 0 {
                    let len = (r >> 8) % 6;
                    args.push((0..len).map(|k| (r >> (16 + 8 * k)) as u8).collect());
                } else {
                    args.push(tokens[(r >> 8) as usize % tokens.len()].to_vec());
                }
            }
            // Mostly a known interpreter's executable, so the grammars are what gets exercised.
            let r = next();
            let exe: Option<Vec<u8>> = match r % 8 {
                0 => None,
                1 => Some(b"/bin/busybox".to_vec()),
                _ => Some([b"/usr/bin/", tokens[(r >> 8) as usize % 16]].concat()),
            };
            let cwd: Option<&[u8]> = if next() % 3 == 0 { None } else { Some(b"/w") };
            let _ = script_of(&args, exe.as_deref(), cwd);
        }
    }
}
